"""Verification: re-run what the applied fixes can affect, keep each fix the re-run confirms, roll back
byte for byte each one it does not (still failing, another node broken, a model emptied, validation)."""
from __future__ import annotations

import re

from adp.apply import AppliedFix, rollback
from adp.artifacts import Manifest
from adp.heal.records import Ledger, NodeState
from adp.models import OK_STATUSES, PHASE_PARSE, Diagnosis, RunResult
from adp.session import BuildSpec, Session

SHARED_SUFFIXES = (".yml", ".yaml")


def verify(session: Session, ledger: Ledger, state: NodeState, applied: list[tuple[Diagnosis, AppliedFix]],
           before: RunResult, select: tuple[str, ...] | None) -> RunResult:
    """Build `select` once with the fixes on disk, then keep or roll back each fix; the build's result."""
    full_refresh = any((fix.proposal.action or {}).get("full_refresh") for _, fix in applied)
    after = session.build(select=select, full_refresh=full_refresh)
    previous = dict(state.status)
    state.update(after, full=select is None)
    for diag, fix in applied:
        reason = _not_verified(diag, fix, before, after, previous)
        if reason is None and after.phase != PHASE_PARSE:
            reason = _emptied(session, fix) or _validation_error(session, state, after)
        if reason is None:
            ledger.kept.append(fix)
            continue
        rollback(session.ws.project, fix, session.log, reason)
        ledger.roll_back(fix, reason)
        if diag.node:
            state.status[diag.node] = "error"  # the cause is back in the file
    return after


def verify_selection(spec: BuildSpec, applied: list[AppliedFix], before: RunResult,
                     manifest: Manifest) -> tuple[str, ...] | None:
    """`path:<file>+` for edited model files (within the user's selection); None = the full selection."""
    if before.phase == PHASE_PARSE or not manifest.exists:
        return None
    paths: list[str] = []
    for fix in applied:
        refresh = (fix.proposal.action or {}).get("full_refresh")
        if refresh:
            node = manifest.node(refresh)
            if not node:
                return None
            paths.append(node["original_file_path"])
        for rel in fix.files:
            if rel.endswith(SHARED_SUFFIXES) or not _defines_node(manifest, rel):
                return None  # macros, dbt_project.yml, shared YAML: everything may change
            paths.append(rel)
    selectors = [f"path:{p}+" for p in dict.fromkeys(paths)]
    if spec.select:
        return tuple(f"{sel},{user}" for sel in selectors for user in spec.select)
    return tuple(selectors)


def _emptied(session: Session, fix: AppliedFix) -> str | None:
    from adp.validate import emptied  # imports duckdb: only once a fix is verified

    empty = emptied(session.ws, fix.files) if fix.proposal.edits else []
    return f"the fix leaves `{empty[0]}` with no rows; a fix must not hide a failure by emptying a model" if empty else None


def _validation_error(session: Session, state: NodeState, result: RunResult) -> str | None:
    if not session.ws.config.validate.enabled or not state.green:
        return None
    from adp.validate import validate  # imports duckdb: only once a fix is verified

    errors = [f for f in validate(session.ws, result, session.log) if f.severity == "error"]
    return "validation: " + "; ".join(f.message for f in errors) if errors else None


def _defines_node(manifest: Manifest, rel: str) -> bool:
    return any(n.get("original_file_path") == rel for n in manifest.nodes.values())


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _not_verified(diag: Diagnosis, fix: AppliedFix, before: RunResult, after: RunResult, previous: dict[str, str]) -> str | None:
    """Why the re-run does not confirm this fix (None when it does)."""
    introduced = set()
    for edit in fix.proposal.edits:
        introduced |= _tokens(edit.new) - _tokens(edit.old)
    if after.phase == PHASE_PARSE:
        if before.phase == PHASE_PARSE and (after.error or "").strip() == (before.error or "").strip():
            return "the same parse error remains"
        if before.phase != PHASE_PARSE or introduced & _tokens(after.error or ""):
            return "the fix introduced a parse error: " + (after.error or "").strip().splitlines()[0][:200]
        return None
    statuses = {n.unique_id: n.status for n in after.nodes}
    target = diag.node
    if target and target in statuses and statuses[target] not in OK_STATUSES and not _moved_on(diag, before, after, introduced):
        return f"{target} still fails after the fix"
    broken = [uid for uid, s in statuses.items() if s not in OK_STATUSES and previous.get(uid) in OK_STATUSES]
    if broken:
        return "the fix broke nodes that passed before: " + ", ".join(broken[:5])
    return None


def _moved_on(diag: Diagnosis, before: RunResult, after: RunResult, introduced: set[str]) -> bool:
    """The node still fails, but on another mistake: the diagnosed one is gone and the fix's own words are
    not in the new error (a second fault in the same file, for the next iteration of the loop)."""
    message = next((n.message or "" for n in after.nodes if n.unique_id == diag.node), "")
    old = next((n.message or "" for n in before.nodes if n.unique_id == diag.node), before.error or "")
    return bool(message) and message != old and not (introduced & _tokens(message)) and (
        not diag.identifier or diag.identifier not in message)

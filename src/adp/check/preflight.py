"""`adp check`: find the faults a build would hit, without building: compile what changed since the last
good run (dbt's `state:modified+` against that run's manifest) into a target dir of its own, then let the
warehouse bind each compiled model in dependency order (`Warehouse.bind_chain`), nothing executed or
written. Findings are ordinary diagnoses with the usual fix proposals, saved for `adp fix apply <id>`;
the check never edits a file. What only a run can show (data tests, conversion errors on data, division
by zero) is said in the outcome, not guessed.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from adp.artifacts import Manifest, read_result
from adp.check.proposal import applied, edited_files, source_edits
from adp.check.state import Changes, changes, state_dir
from adp.diagnose.locate import SourceEdit
from adp.diagnose import diagnose
from adp.engine import EventHandler, get_engine
from adp.fixes import propose
from adp.heal.records import proposal_diff, proposal_fields
from adp.lock import WriterLock
from adp.models import EXIT_FAILED, EXIT_OK, PHASE_NODE, Diagnosis, FixProposal, NodeResult, RunResult
from adp.project import DbtProject
from adp.proposals import PendingProposal, save
from adp.runlog import RunLog, new_run_id, save_result
from adp.session import BuildSpec
from adp.warehouses import for_project
from adp.warehouses.base import Bound, ChainNode
from adp.workspace import Workspace

__all__ = ["CheckOutcome", "Found", "check", "preflight"]

BOUND_TYPES = ("model", "snapshot", "test")  # a snapshot's relation keeps dbt's own columns: no stand-in
NOT_CHECKABLE = ("data tests are bound, not run: their rows, conversion errors on data and division by zero "
                 "show only when the build runs")


@dataclass(frozen=True)
class Found:
    """What the pre-flight found: the failures as a RunResult, the project whose target dir holds the check's
    compile and its manifest, and the columns each model that bound will have once built (not yet built:
    the warehouse still holds the old ones, which diagnosis must not read instead)."""

    result: RunResult
    project: DbtProject
    manifest: Manifest
    columns: dict[str, list[str]]


@dataclass
class CheckOutcome:
    """What `adp check` found: `unchanged` (nothing to check), `clean`, `findings` or `skipped` (no binder)."""

    run_id: str
    status: str
    exit_code: int
    changes: dict[str, Any]
    checked: list[str] = field(default_factory=list)  # unique_ids the binder passed
    failed: list[str] = field(default_factory=list)  # unique_ids that fail (compile or bind)
    not_checked: list[dict[str, str]] = field(default_factory=list)  # {node, reason}
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)  # proposal fields + `path`
    note: str = NOT_CHECKABLE
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(ws: Workspace, select: tuple[str, ...] = (), vars_: str | None = None,
          progress: EventHandler | None = None, notify=None, proposal: FixProposal | None = None) -> CheckOutcome:
    """`adp check`: check what changed since the last good run and its descendants (or `select`) under the
    writer lock, diagnose what fails and save each diagnosis's best proposal (never applied here).
    With `proposal`, bind as if it were applied (`adp.check.proposal`); nothing is saved then."""
    began = time.monotonic()
    run_id = f"check-{new_run_id()}"
    found = Changes("all", reason=f"--select {' '.join(select)}") if select else changes(ws.project, ws.log_dir, vars_)
    if proposal is not None:
        select = select or tuple(f"path:{f}+" for f in sorted(edited_files(proposal)))
        found = Changes("some", sorted(edited_files(proposal)), f"bound as if proposal {proposal.id} were applied")
    outcome = CheckOutcome(run_id, "unchanged", EXIT_OK, asdict(found))
    if found.kind == "none":
        return outcome
    log = RunLog(ws.log_dir, run_id)
    log.emit("check_started", changes=asdict(found), spec=asdict(BuildSpec(select=select, vars=vars_)))
    with WriterLock(ws.lock_path(), ws.config.execution.lock_timeout_seconds, on_wait=notify):
        pre = preflight(ws, found, select, vars_, outcome, progress, proposal)
    if pre is not None:
        save_result(ws.log_dir, run_id, pre.result)
        for d in diagnose(pre.result, pre.project, log, pre.manifest, columns=pre.columns):
            outcome.diagnoses.append(d.to_dict())
            if proposal is None:
                _save_best(ws, pre.project, pre.manifest, pre.result, d, log, outcome)
    outcome.status = "findings" if outcome.diagnoses else outcome.status if outcome.status == "skipped" else "clean"
    outcome.exit_code = EXIT_FAILED if outcome.diagnoses else EXIT_OK
    outcome.duration = round(time.monotonic() - began, 3)
    log.emit("check_finished", status=outcome.status, exit_code=outcome.exit_code, checked=len(outcome.checked),
             failed=outcome.failed, not_checked=len(outcome.not_checked), duration=outcome.duration)
    return outcome


def preflight(ws: Workspace, found: Changes, select: tuple[str, ...], vars_: str | None, outcome: CheckOutcome,
              progress: EventHandler | None = None,
              proposal: FixProposal | None = None) -> Found | None:
    """Compile (into `<log dir>/check/target`) and bind; what failed, or None when everything checked
    passes. The caller holds the lock."""
    project = replace(ws.project, target_path=ws.log_dir / "check" / "target")
    good = state_dir(ws.log_dir) / "manifest.json"
    if good.is_file():  # what diagnosis reads when the compile stops at parse (as target/ after a failed build)
        project.target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(good, project.target_dir / "manifest.json")
    result = _compile(ws, project, found, select, vars_, progress)
    manifest = Manifest(project.target_dir)  # parsed once: binding, diagnosis and proposals share it
    columns: dict[str, list[str]] = {}  # nothing bound when the compile fails
    if result.success:
        result, columns = _bind(project, manifest, result, outcome,
                                source_edits(ws.project, proposal) if proposal else None)
    if result.success and not result.dropped:
        return None
    outcome.failed += [n.unique_id for n in result.failed_nodes]
    return Found(result, project, manifest, columns)


def _compile(ws: Workspace, project: DbtProject, found: Changes, select: tuple[str, ...], vars_: str | None,
             progress: EventHandler | None) -> RunResult:
    args = ["compile"]
    if select:
        args += ["--select", *select]
    elif found.kind == "some":
        args += ["--select", "state:modified+", "--state", str(state_dir(ws.log_dir))]
    if vars_:
        args += ["--vars", vars_]
    return read_result(project, get_engine(ws.config.engine).invoke(project, args, progress))


def _bind(project: DbtProject, manifest: Manifest, compiled: RunResult, outcome: CheckOutcome,
          edits: list[SourceEdit] | None = None) -> tuple[RunResult, dict[str, list[str]]]:
    """Bind the compiled models in dependency order: a RunResult whose failed nodes are the ones that do not
    bind, and the output columns of each model that binds."""
    selected = {n.unique_id for n in compiled.nodes}
    chain = [_chain_node(manifest, uid) for uid in _ordered(manifest, selected)]
    chain = [c for c in chain if c is not None]
    if edits:
        chain, refused = applied(project, manifest, chain, edits)
        outcome.not_checked += [{"node": uid, "reason": why} for uid, why in refused.items()]
        chain = [c for c in chain if c.unique_id not in refused]
    verdicts = for_project(project).bind_chain(project, chain) if chain else {}
    if verdicts is None:
        outcome.status = "skipped"
        outcome.not_checked += [{"node": c.unique_id, "reason": "the warehouse's binder cannot be reached now"} for c in chain]
        return compiled, {}
    failed, columns = [], {}
    for c in chain:
        verdict = verdicts.get(c.unique_id)
        if isinstance(verdict, Bound) and verdict.ok:
            outcome.checked.append(c.unique_id)
            if c.relation and verdict.columns:
                columns[c.unique_id] = list(verdict.columns)
        elif isinstance(verdict, Bound):
            failed.append(_failed_node(manifest, c.unique_id, verdict.error or "the binder refused it"))
        else:
            outcome.not_checked.append({"node": c.unique_id, "reason": str(verdict).removeprefix("not checked: ")})
    if not failed:
        return compiled, columns
    return replace(compiled, exit_code=1, phase=PHASE_NODE, nodes=failed, command=["check"]), columns


def _ordered(manifest: Manifest, selected: set[str]) -> list[str]:
    """The selected models, parents before children (dbt's DAG from the manifest)."""
    parents = manifest.parent_map
    done: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for p in parents.get(uid, []):
            if p in selected:
                visit(p)
        done.append(uid)

    for uid in sorted(selected):
        visit(uid)
    return [u for u in done if u.split(".")[0] in BOUND_TYPES]


def _chain_node(manifest: Manifest, uid: str) -> ChainNode | None:
    node = manifest.node(uid) or {}
    sql = node.get("compiled_code")
    config = node.get("config") or {}
    if not sql or config.get("materialized") == "ephemeral":
        return None  # an ephemeral model is bound inside each child that inlines it
    parents = tuple(_read_relations(manifest, uid))
    if node.get("resource_type") == "snapshot":  # its config names columns of its query: bind those too
        check_cols = config.get("check_cols")
        keys = [config.get("unique_key"), config.get("updated_at"), check_cols if isinstance(check_cols, list) else None]
        names = [k for key in keys if key for k in (key if isinstance(key, list) else [key])]
        return ChainNode(uid, None, f"select {', '.join(names)} from (\n{sql}\n) as snapshot_query" if names else sql, parents)
    return ChainNode(uid, node.get("relation_name") if node.get("resource_type") == "model" else None, sql, parents)


def _read_relations(manifest: Manifest, uid: str) -> list[str]:
    """The relations `uid`'s compiled SQL reads: its parents', through ephemeral parents to theirs."""
    out: list[str] = []
    stack = list(manifest.parent_map.get(uid, []))
    seen: set[str] = set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        node = manifest.node(p) or manifest.sources.get(p) or {}
        if (node.get("config") or {}).get("materialized") == "ephemeral":
            stack += manifest.parent_map.get(p, [])
        elif node.get("relation_name"):
            out.append(node["relation_name"])
    return out


def _failed_node(manifest: Manifest, uid: str, error: str) -> NodeResult:
    """The binder's refusal as dbt reports a failed model, so diagnosis reads it the same way."""
    node = manifest.node(uid) or {}
    name, file = node.get("name", uid), node.get("original_file_path")
    message = f"Runtime Error in {node.get('resource_type', 'model')} {name} ({file})\n  " + "\n  ".join(error.splitlines())
    return NodeResult(uid, name, node.get("resource_type", "model"), "error", message, file,
                      compiled_path=node.get("compiled_path"), relation_name=node.get("relation_name"))


def _save_best(ws: Workspace, project: DbtProject, manifest: Manifest, result: RunResult, d: Diagnosis,
               log: RunLog, outcome: CheckOutcome) -> None:
    """Save the diagnosis's best proposal for `adp fix apply <id>`."""
    proposals = propose(d, project, result, manifest)
    if not proposals:
        return
    p = proposals[0]
    diff = proposal_diff(ws.project, p)
    pending = PendingProposal(p, outcome.run_id, str(ws.project.project_dir),
                              str(ws.project.profiles_dir) if ws.project.profiles_dir else None, ws.project.target,
                              asdict(BuildSpec(select=tuple(outcome.failed))), diff, d.to_dict(),
                              reason="found by adp check; apply it with `adp fix apply <id>`")
    path: Path = save(ws.log_dir, pending)
    log.emit("proposal_saved", proposal_id=p.id, path=str(path), confidence=p.confidence, rule=p.rule, status="pending")
    outcome.proposals.append({**proposal_fields(p), "path": str(path), "diff": diff})

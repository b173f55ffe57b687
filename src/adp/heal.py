"""The self-healing loop: run -> diagnose -> (transient? back off) -> propose -> apply per mode -> verify.

Backoff retries are only for transient failures (a locked DuckDB file, a dropped connection);
deterministic errors go to diagnosis and a fix instead of being retried blindly.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from adp.apply import AppliedFix, apply_fix, edited_texts, render_diff, rollback
from adp.artifacts import Manifest, read_result
from adp.config import Retry
from adp.engine import EventHandler, get_engine
from adp.errors import FixError
from adp.findings import write_findings
from adp.fixes.effects import Baseline, judge
from adp.models import (
    EXIT_FAILED,
    EXIT_NEEDS_REVIEW,
    EXIT_OK,
    EXIT_USAGE,
    PHASE_PARSE,
    Diagnosis,
    FixProposal,
    RunResult,
)
from adp.pipeline import BuildSpec, Outcome, Session, nodes_json, run_locked
from adp.proposals import PendingProposal, save
from adp.runlog import load_result, read_events
from adp.workspace import Workspace

sleep = time.sleep  # replaced in tests; the only stand-in is for time
rand = random.random

OK_STATUSES = {"success", "pass", "warn", "no-op", "reused", "partial success"}
SHARED_SUFFIXES = (".yml", ".yaml")
STATE_DIR = "state"  # <log dir>/state/manifest.json: the last good run's parse, a baseline for the guards


def backoff_delay(retry: Retry, attempt: int) -> float:
    """Exponential backoff with full jitter: random() * min(cap, base * multiplier ** attempt)."""
    return rand() * min(retry.max_delay_seconds, retry.base_delay_seconds * retry.backoff_multiplier**attempt)


@dataclass
class NodeState:
    """The latest status of every node of the user's selection since the last edit that could affect it."""

    status: dict[str, str] = field(default_factory=dict)
    parse_error: str | None = None
    dropped: list[str] = field(default_factory=list)  # nodes dbt left out with a warning (RunResult.dropped)

    def update(self, result: RunResult, full: bool) -> None:
        if result.phase == PHASE_PARSE:
            self.parse_error = result.error or "dbt could not start"
            return
        self.parse_error = None
        self.dropped = result.dropped
        fresh = {n.unique_id: n.status for n in result.nodes}
        self.status = fresh if full else {**self.status, **fresh}

    @property
    def green(self) -> bool:
        return self.parse_error is None and not self.dropped and all(s in OK_STATUSES for s in self.status.values())

    def failing(self) -> list[str]:
        return [uid for uid, s in self.status.items() if s not in OK_STATUSES]


@dataclass
class Plan:
    """What one healing attempt will apply: proposals with who approved them."""

    items: list[tuple[Diagnosis, FixProposal, str]] = field(default_factory=list)
    stop: bool = False  # a person must decide (proposal saved or no safe fix)


class Healer:
    def __init__(self, session: Session, mode: str, interactive: bool):
        self.s = session
        self.ws = session.ws
        self.cfg = session.ws.config
        self.mode = mode
        self.interactive = interactive
        self.state = NodeState()
        self.tried: set[str] = set()
        self.fixes: list[dict[str, Any]] = []
        self.diagnoses: list[Diagnosis] = []
        self.escalated: list[tuple[Diagnosis, FixProposal | None]] = []
        self.proposals: list[str] = []
        self.kept: list[AppliedFix] = []
        self.rolled_back: list[tuple[AppliedFix, str]] = []
        self._last_select: tuple[str, ...] | None = None  # what the latest build selected
        self._manifests: dict[str | None, Manifest] = {}  # the latest invocation's manifest only

    # -- the loop ---------------------------------------------------------------------------
    def run(self, heal: bool) -> Outcome:
        result = self.s.build()
        self.state.update(result, full=True)
        return self.loop(result, heal=heal, attempts=1)

    def resume(self, stopped: RunResult, proposal: FixProposal, approved_by: str) -> Outcome:
        """Continue a run that stopped for a person, with the proposal they approved."""
        self.state.update(stopped, full=True)
        found = self._diagnose(stopped)
        diag = next((d for d in found if proposal.node and proposal.node in (d.node, d.root_cause_node)), None)
        if diag is None:
            diag = found[0] if found else Diagnosis(category="unknown", summary="approved fix", node=proposal.node)
        result = self._apply_and_verify(Plan([(diag, proposal, approved_by)]), stopped)
        refused = next((r["refused"] for r in self.fixes if r["id"] == proposal.id and r.get("refused")), None)
        if refused is not None:
            outcome = self._finish(stopped, 1, "refused")
            outcome.error = f"proposal {proposal.id} was refused: {refused}"
            return outcome
        return self.loop(result, heal=True, attempts=2)

    def loop(self, result: RunResult, heal: bool, attempts: int) -> Outcome:
        transient = 0
        while not self.state.green:
            diagnoses = self._diagnose(result)
            if diagnoses and all(d.transient for d in diagnoses):
                if transient >= self.cfg.retry.max_transient_retries:
                    return self._finish(result, attempts, "failed")
                delay = backoff_delay(self.cfg.retry, transient)
                transient += 1
                self.s.log.emit("retry", attempt=transient, delay=round(delay, 3), reason=diagnoses[0].summary)
                sleep(delay)
                result = self.s.build(select=self._last_select)
                self.state.update(result, full=self._last_select is None)
                continue
            if not heal or not diagnoses:  # nothing new to diagnose: a cause escalated earlier is still open
                return self._finish(result, attempts, "needs_review" if heal and self.escalated else "failed")
            if attempts > self.cfg.retry.max_retries:
                return self._finish(result, attempts, "failed")
            plan = self._plan([d for d in diagnoses if not d.transient], result)
            if not plan.items:
                status = "needs_review" if plan.stop or self.escalated else "failed"
                return self._finish(result, attempts, status)
            attempts += 1
            result = self._apply_and_verify(plan, result)
        status = "healed" if self.kept else "success"
        return self._finish(result, attempts, status)

    def _manifest(self, result: RunResult) -> Manifest:
        """target/manifest.json as `result`'s invocation left it: parsed once, shared by every step."""
        if result.invocation_id not in self._manifests:
            self._manifests = {result.invocation_id: Manifest(self.ws.project.target_dir)}
        return self._manifests[result.invocation_id]

    def _diagnose(self, result: RunResult) -> list[Diagnosis]:
        from adp.diagnose import diagnose

        found = diagnose(result, self.ws.project, self.s.log, self._manifest(result))
        for d in found:
            if all(d.to_dict() != seen.to_dict() for seen in self.diagnoses):
                self.diagnoses.append(d)
        return found

    # -- choosing fixes ---------------------------------------------------------------------
    def _plan(self, diagnoses: list[Diagnosis], result: RunResult) -> Plan:
        from adp.fixes import propose

        plan = Plan()
        for diag in diagnoses:
            candidates = [p for p in propose(diag, self.ws.project, result, self._manifest(result)) if p.id not in self.tried]
            for p in candidates:
                self.s.log.emit("fix_proposed", **_proposal_fields(p), diff=self._diff(p))
            chosen = self._choose(diag, candidates, result, plan)
            if chosen is not None:
                plan.items.append(chosen)
        return plan

    def _choose(self, diag: Diagnosis, candidates: list[FixProposal], result: RunResult, plan: Plan) -> tuple | None:
        threshold = self.cfg.autonomous.min_confidence
        if self.mode == "autonomous":
            good = [p for p in candidates if p.confidence >= threshold and not p.needs_review]
            if good:
                return diag, good[0], "autonomous"
            agent = self._agent_proposal(diag, result)
            if agent is not None:
                return diag, agent, "agent"
            self.escalated.append((diag, candidates[0] if candidates else None))
            plan.stop = True
            return None
        best = candidates[0] if candidates else self._agent_proposal(diag, result)
        if best is None:
            self.escalated.append((diag, None))
            plan.stop = True
            return None
        if self.interactive and self._ask(diag, best):
            return diag, best, "human"
        if not self.interactive:
            self._save_for_later(diag, best)
        else:
            self.s.log.emit("fix_rejected", proposal_id=best.id, rule=best.rule, by="human")
            self.escalated.append((diag, best))
        plan.stop = True
        return None

    def _agent_proposal(self, diag: Diagnosis, result: RunResult) -> FixProposal | None:
        if not self.cfg.agent.enabled:
            return None
        from adp.agent import AgentUnavailable, propose_with_agent

        try:
            proposal = propose_with_agent(self.ws, diag, result)
        except AgentUnavailable as exc:
            self.s.log.emit("agent_unavailable", reason=str(exc), node=diag.node)
            return None
        if proposal is None or proposal.id in self.tried:
            return None
        self.s.log.emit("fix_proposed", **_proposal_fields(proposal), diff=self._diff(proposal))
        return proposal

    def _ask(self, diag: Diagnosis, p: FixProposal) -> bool:
        click.echo(click.style(f"\n{diag.category}: {diag.summary}", bold=True), err=True)
        if diag.file:
            click.echo(f"  in {diag.file}" + (f" line {diag.line}" if diag.line else ""), err=True)
        for line in self._diff(p).splitlines():
            colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            click.echo(click.style(line, fg=colour), err=True)
        if p.action:
            click.echo(f"  run action: {p.action}", err=True)
        click.echo(f"  rule {p.rule}, confidence {p.confidence:.2f}: {p.rationale}", err=True)
        return click.confirm("Apply?", default=False, err=True)

    def _save_for_later(self, diag: Diagnosis, p: FixProposal) -> None:
        pending = PendingProposal(
            proposal=p,
            run_id=self.s.run_id,
            project_dir=str(self.ws.project.project_dir),
            profiles_dir=str(self.ws.project.profiles_dir) if self.ws.project.profiles_dir else None,
            target=self.ws.project.target,
            spec=asdict(self.s.spec),
            diff=self._diff(p),
            diagnosis=diag.to_dict(),
        )
        path = save(self.ws.log_dir, pending)
        self.proposals.append(str(path))
        self.escalated.append((diag, p))
        self.s.log.emit("proposal_saved", proposal_id=p.id, path=str(path), confidence=p.confidence, rule=p.rule)

    def _diff(self, p: FixProposal) -> str:
        try:
            return render_diff(self.ws.project, p)
        except FixError as exc:
            return f"(cannot show diff: {exc})"

    # -- applying and verifying ---------------------------------------------------------------
    def _apply_and_verify(self, plan: Plan, before: RunResult) -> RunResult:
        """Apply the plan's fixes one by one (each judged on its effect), verify them with one build.

        Whatever stops this midway (Ctrl-C, SIGTERM, a crash) rolls back every fix not yet kept.
        """
        manifest = self._manifest(before)
        baseline = self._baseline(before, manifest)
        applied: list[tuple[Diagnosis, AppliedFix]] = []
        try:
            for diag, proposal, by in plan.items:
                fix = self._apply_one(diag, proposal, by, manifest, baseline)
                if fix is not None:
                    applied.append((diag, fix))
            if not applied:
                return before
            return self._verify(applied, before, manifest)
        except BaseException:
            for _, fix in applied:
                if fix not in self.kept and all(fix is not f for f, _ in self.rolled_back):
                    rollback(self.ws.project, fix, self.s.log, "interrupted before the fix was verified")
            raise

    def _apply_one(self, diag: Diagnosis, proposal: FixProposal, by: str, manifest: Manifest,
                   baseline: Baseline | None) -> AppliedFix | None:
        """Guard, write and judge one fix; None when it was refused (and nothing of it is left on disk)."""
        from adp.fixes.guards import check

        self.tried.add(proposal.id)
        record = {**_proposal_fields(proposal), "applied": False, "rolled_back": False, "approved_by": by}
        self.fixes.append(record)
        try:
            check(proposal, self.ws.project, manifest)
            texts = edited_texts(self.ws.project, proposal)
            fix = apply_fix(self.ws.project, proposal, self.ws.log_dir, self.s.log, by)
        except FixError as exc:
            return self._refuse(record, proposal, str(exc))
        try:
            reason = self._judge(diag, proposal, by, texts, baseline) if proposal.edits else None
        except BaseException:  # Ctrl-C or SIGTERM while dbt parses: the fix was never judged
            rollback(self.ws.project, fix, self.s.log, "interrupted before the fix was judged")
            raise
        if reason is not None:
            rollback(self.ws.project, fix, self.s.log, reason)
            return self._refuse(record, proposal, reason)
        record.update(applied=True, diff=fix.diff)
        return fix

    def _refuse(self, record: dict[str, Any], proposal: FixProposal, reason: str) -> None:
        record["refused"] = reason
        self.s.log.emit("fix_refused", proposal_id=proposal.id, rule=proposal.rule, reason=reason)
        return None

    def _baseline(self, before: RunResult, manifest: Manifest) -> Baseline | None:
        """What a fix is judged against: this build's parse, else (parse failed) the last good run's."""
        root = self.ws.project.project_dir
        if before.phase != PHASE_PARSE and manifest.data.get("nodes"):
            return Baseline(manifest.data, last_good=False, project_dir=root)
        for kept in (Manifest(self.ws.log_dir / STATE_DIR), manifest):
            if kept.data.get("nodes"):
                return Baseline(kept.data, last_good=True, project_dir=root)
        return None

    def _judge(self, diag: Diagnosis, proposal: FixProposal, by: str, texts: dict[str, tuple[str, str]],
               baseline: Baseline | None) -> str | None:
        """Parse the project with the fix on disk and compare it with `baseline`; the reason to refuse, or None."""
        if baseline is None:
            return "no parse of the project before the fix to compare with; refused (fail closed)"
        args = ["parse", *(["--vars", self.s.spec.vars] if self.s.spec.vars else [])]
        # dbtRunner in this process whatever the build engine: no interpreter start-up for the parse, and
        # dbt's partial parsing (target/partial_parse.msgpack) lets the verifying build reuse it
        parsed = get_engine("in_process").invoke(self.ws.project, args, None)
        self.s.log.emit("fix_parsed", proposal_id=proposal.id, exit_code=parsed.exit_code, elapsed=round(parsed.elapsed, 3))
        if parsed.exit_code != 0:
            first = (read_result(self.ws.project, parsed).error or "").strip().splitlines()
            return "the project does not parse after the fix; refused: " + (first[0][:200] if first else "dbt parse failed")
        try:
            judge(baseline, Manifest(self.ws.project.target_dir).data, diag, texts, by)
        except FixError as exc:
            return str(exc)
        return None

    def _verify(self, applied: list[tuple[Diagnosis, AppliedFix]], before: RunResult, manifest: Manifest) -> RunResult:
        full_refresh = any((fix.proposal.action or {}).get("full_refresh") for _, fix in applied)
        select = self._verify_selection([f for _, f in applied], before, manifest)
        self._last_select = select
        after = self.s.build(select=select, full_refresh=full_refresh)
        previous = dict(self.state.status)
        self.state.update(after, full=select is None)
        for diag, fix in applied:
            reason = _not_verified(diag, fix, before, after, previous)
            if reason is None and after.phase != PHASE_PARSE:
                reason = self._emptied(fix) or self._validation_error(after)
            if reason is None:
                self.kept.append(fix)
                continue
            rollback(self.ws.project, fix, self.s.log, reason)
            self.rolled_back.append((fix, reason))
            for record in self.fixes:
                if record["id"] == fix.proposal.id:
                    record.update(applied=False, rolled_back=True, rollback_reason=reason)
            if diag.node:
                self.state.status[diag.node] = "error"  # the cause is back in the file
        return after

    def _verify_selection(self, applied: list[AppliedFix], before: RunResult, manifest: Manifest) -> tuple[str, ...] | None:
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
        if self.s.spec.select:
            return tuple(f"{sel},{user}" for sel in selectors for user in self.s.spec.select)
        return tuple(selectors)

    def _emptied(self, fix: AppliedFix) -> str | None:
        from adp.validate import emptied

        empty = emptied(self.ws, fix.files) if fix.proposal.edits else []
        return f"the fix leaves `{empty[0]}` with no rows; a fix must not hide a failure by emptying a model" if empty else None

    def _validation_error(self, result: RunResult) -> str | None:
        if not self.cfg.validate.enabled or not self.state.green:
            return None
        from adp.validate import validate

        errors = [f for f in validate(self.ws, result, self.s.log) if f.severity == "error"]
        return "validation: " + "; ".join(f.message for f in errors) if errors else None

    # -- the end ------------------------------------------------------------------------------
    def _finish(self, result: RunResult, attempts: int, status: str) -> Outcome:
        exit_code = {"success": EXIT_OK, "healed": EXIT_OK, "needs_review": EXIT_NEEDS_REVIEW,
                     "refused": EXIT_USAGE}.get(status, EXIT_FAILED)
        outcome = Outcome(
            run_id=self.s.run_id,
            status=status,
            exit_code=exit_code,
            attempts=attempts,
            project_dir=str(self.ws.project.project_dir),
            nodes=nodes_json(result),
            diagnoses=[d.to_dict() for d in self.diagnoses],
            fixes=self.fixes,
            error=result.error,
            log_path=str(self.s.log.path),
            proposals=self.proposals,
        )
        backups = self.ws.log_dir / "backups" / self.s.run_id
        if status == "healed" and not self.cfg.autonomous.create_backups:
            shutil.rmtree(backups, ignore_errors=True)  # taken for rollback; not kept after a heal
        elif self.kept:
            outcome.backups_dir = str(backups)
        if status in ("success", "healed"):
            self._record_good_run(result, outcome)
        if status in ("failed", "needs_review"):
            outcome.findings_path = str(
                write_findings(self.ws, outcome, self.escalated, self.rolled_back, self._diff)
            )
        return outcome

    def _record_good_run(self, result: RunResult, outcome: Outcome) -> None:
        """Validate a green run against the last good one, then make it the new baseline."""
        from adp.validate import check_good_run

        _keep_manifest(self.ws.project.target_dir / "manifest.json", self.ws.log_dir / STATE_DIR)
        outcome.validation = [f.to_dict() for f in check_good_run(self.ws, self.s.run_id, result, self.s.log)]


def _keep_manifest(source: Path, state_dir: Path) -> None:
    """Copy a good run's manifest.json beside the logs (atomically): the guards' baseline when a project stops parsing."""
    if source.is_file():
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / ".manifest.json.tmp"
        shutil.copyfile(source, tmp)
        os.replace(tmp, state_dir / "manifest.json")


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


def _proposal_fields(p: FixProposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "rule": p.rule,
        "file": p.edits[0].path if p.edits else None,
        "confidence": round(p.confidence, 3),
        "source": p.source,
        "rationale": p.rationale,
        "action": p.action,
        "node": p.node,
        "needs_review": p.needs_review,
    }


def apply_approved(
    ws: Workspace, proposal: FixProposal, run_id: str, approved_by: str, mode: str | None = None, progress: EventHandler | None = None
) -> Outcome:
    """Apply a proposal a person (or the diagnostician agent) approved for run `run_id`, verify, go on healing."""
    stopped = load_result(ws.log_dir, run_id)
    if stopped is None:
        raise FixError(f"run {run_id} has no saved result in {ws.log_dir / 'runs'}; run `adp run` first")
    spec = BuildSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in run_spec(ws.log_dir, run_id).items()})
    session = Session(ws, spec, progress, run_id=run_id)
    mode = mode or ws.config.execution.mode
    healer = Healer(session, mode, interactive=False)
    return run_locked(session, mode, lambda: healer.resume(stopped, proposal, approved_by), resumed_with=proposal.id)


def run_spec(log_dir: Path, run_id: str) -> dict[str, Any]:
    """The BuildSpec a run was started with (from its run_started event)."""
    for ev in read_events(log_dir, run_id):
        if ev.get("event") == "run_started" and "spec" in ev:
            return ev["spec"]
    raise FixError(f"run {run_id} is not in the run log {log_dir}")

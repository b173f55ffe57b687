"""The self-healing loop: run -> diagnose -> (transient? back off) -> propose -> apply per mode -> verify.

Backoff retries are only for transient failures (a locked DuckDB file, a dropped connection);
deterministic errors go to diagnosis and a fix instead of being retried blindly.
"""
from __future__ import annotations

import random
import time

from dataclasses import asdict

from adp.apply import AppliedFix, rollback
from adp.artifacts import Manifest
from adp.check.preflight import CheckOutcome, preflight
from adp.check.state import changes, state_dir
from adp.config import Retry
from adp.diagnose import diagnose
from adp.fixes import propose
from adp.heal.apply_one import apply_one, baseline
from adp.heal.finish import finish
from adp.heal.policy import Approve, Policy
from adp.heal.records import Ledger, NodeState, Plan, proposal_fields
from adp.heal.verify import verify, verify_selection
from adp.models import Diagnosis, FixProposal, RunResult
from adp.session import Outcome, Session

sleep = time.sleep  # replaced in tests; the only stand-in is for time
rand = random.random


def backoff_delay(retry: Retry, attempt: int) -> float:
    """Exponential backoff with full jitter: random() * min(cap, base * multiplier ** attempt)."""
    return rand() * min(retry.max_delay_seconds, retry.base_delay_seconds * retry.backoff_multiplier**attempt)


class Healer:
    """Builds, diagnoses and heals one session until it is green, out of attempts, or needs a person.

    `approve` asks a person about a fix in human-in-loop mode (None: nobody to ask, the proposal is saved).
    """

    def __init__(self, session: Session, mode: str, approve: Approve | None = None):
        self.s = session
        self.cfg = session.ws.config
        self.state = NodeState()
        self.ledger = Ledger()
        self.policy = Policy(session, mode, approve, self.ledger)
        self._last_select: tuple[str, ...] | None = None  # what the latest build selected
        self._manifests: dict[str | None, Manifest] = {}  # the latest invocation's manifest only

    def run(self, heal: bool) -> Outcome:
        if heal and self.policy.mode == "autonomous":
            healed = self._preflight()
            if healed is not None:
                return self.loop(healed, heal=heal, attempts=2)
        result = self.s.build()
        self.state.update(result, full=True)
        return self.loop(result, heal=heal, attempts=1)

    def _preflight(self) -> RunResult | None:
        """When files changed since the last good run: check them without building (`adp.check`), apply the
        fixes autonomous mode would apply, and let the one build that follows verify them. None: build as
        usual (nothing changed, nothing found, or nothing to apply: the build then diagnoses it itself)."""
        ws, spec = self.s.ws, self.s.spec
        if spec.select or spec.exclude or spec.full_refresh or spec.extra:
            return None
        found = changes(ws.project, ws.log_dir, spec.vars)
        if found.kind == "none" or not state_dir(ws.log_dir).joinpath("manifest.json").is_file():
            return None
        outcome = CheckOutcome(self.s.run_id, "checking", 0, asdict(found))
        self.s.log.emit("check_started", changes=asdict(found))
        pre = preflight(ws, found, (), spec.vars, outcome, self.s.progress)
        self.s.log.emit("check_finished", checked=len(outcome.checked), failed=outcome.failed,
                        not_checked=len(outcome.not_checked))
        if pre is None:
            return None
        result, project, manifest = pre.result, pre.project, pre.manifest
        diagnoses = [d for d in diagnose(result, project, self.s.log, manifest, columns=pre.columns) if not d.transient]
        threshold = self.cfg.autonomous.min_confidence
        items = []
        for d in diagnoses:
            best = next((p for p in propose(d, project, result, manifest) if p.confidence >= threshold and not p.needs_review), None)
            if best is not None:
                self.s.log.emit("fix_proposed", **proposal_fields(best), diff=self.policy.diff(best), found_by="check")
                items.append((d, best, "autonomous"))
        if not items:
            return None
        self.state.update(result, full=False)
        return self._apply_and_verify(Plan(items), result, manifest, whole=True)

    def resume(self, stopped: RunResult, proposal: FixProposal, approved_by: str) -> Outcome:
        """Continue a run that stopped for a person, with the proposal they approved."""
        self.state.update(stopped, full=True)
        found = self._diagnose(stopped)
        diag = next((d for d in found if proposal.node and proposal.node in (d.node, d.root_cause_node)), None)
        if diag is None:
            diag = found[0] if found else Diagnosis(category="unknown", summary="approved fix", node=proposal.node)
        result = self._apply_and_verify(Plan([(diag, proposal, approved_by)]), stopped)
        refused = self.ledger.refusal(proposal.id)
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
                return self._finish(result, attempts, "needs_review" if heal and self.ledger.escalated else "failed")
            if attempts > self.cfg.retry.max_retries:
                return self._finish(result, attempts, "failed")
            plan = self.policy.plan([d for d in diagnoses if not d.transient], result, self._manifest(result))
            if not plan.items:
                status = "needs_review" if plan.stop or self.ledger.escalated else "failed"
                return self._finish(result, attempts, status)
            attempts += 1
            result = self._apply_and_verify(plan, result)
        status = "healed" if self.ledger.kept else "success"
        return self._finish(result, attempts, status)

    def _manifest(self, result: RunResult) -> Manifest:
        """target/manifest.json as `result`'s invocation left it: parsed once, shared by every step."""
        if result.invocation_id not in self._manifests:
            self._manifests = {result.invocation_id: Manifest(self.s.ws.project.target_dir)}
        return self._manifests[result.invocation_id]

    def _diagnose(self, result: RunResult) -> list[Diagnosis]:
        found = diagnose(result, self.s.ws.project, self.s.log, self._manifest(result))
        for d in found:
            if all(d.to_dict() != seen.to_dict() for seen in self.ledger.diagnoses):
                self.ledger.diagnoses.append(d)
        return found

    def _apply_and_verify(self, plan: Plan, before: RunResult, manifest: Manifest | None = None,
                          whole: bool = False) -> RunResult:
        """Apply the plan's fixes one by one (each judged on its effect), verify them with one build (`whole`:
        the user's whole selection, as after a pre-flight check; else what the fixes can affect).

        Whatever stops this midway (Ctrl-C, SIGTERM, a crash) rolls back every fix not yet kept.
        """
        manifest = manifest or self._manifest(before)
        judged_against = baseline(self.s, before, manifest)
        applied: list[tuple[Diagnosis, AppliedFix]] = []
        try:
            for diag, proposal, by in plan.items:
                fix = apply_one(self.s, self.ledger, diag, proposal, by, manifest, judged_against)
                if fix is not None:
                    applied.append((diag, fix))
            if not applied:
                return before
            self._last_select = None if whole else verify_selection(self.s.spec, [f for _, f in applied], before, manifest)
            return verify(self.s, self.ledger, self.state, applied, before, self._last_select)
        except BaseException:
            for _, fix in applied:
                if fix not in self.ledger.kept and all(fix is not f for f, _ in self.ledger.rolled_back):
                    rollback(self.s.ws.project, fix, self.s.log, "interrupted before the fix was verified")
            raise

    def _finish(self, result: RunResult, attempts: int, status: str) -> Outcome:
        return finish(self.s, self.ledger, result, attempts, status, self.policy.diff)

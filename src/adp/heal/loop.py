"""The self-healing loop: run -> diagnose -> (transient? back off) -> propose -> apply per mode -> verify.

Backoff retries are only for transient failures (a locked DuckDB file, a dropped connection);
deterministic errors go to diagnosis and a fix instead of being retried blindly.
"""
from __future__ import annotations

import random
import time

from adp.apply import AppliedFix, rollback
from adp.artifacts import Manifest
from adp.config import Retry
from adp.diagnose import diagnose
from adp.heal.apply_one import apply_one, baseline
from adp.heal.finish import finish
from adp.heal.policy import Approve, Policy
from adp.heal.records import Ledger, NodeState, Plan
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

    def _apply_and_verify(self, plan: Plan, before: RunResult) -> RunResult:
        """Apply the plan's fixes one by one (each judged on its effect), verify them with one build.

        Whatever stops this midway (Ctrl-C, SIGTERM, a crash) rolls back every fix not yet kept.
        """
        manifest = self._manifest(before)
        judged_against = baseline(self.s, before, manifest)
        applied: list[tuple[Diagnosis, AppliedFix]] = []
        try:
            for diag, proposal, by in plan.items:
                fix = apply_one(self.s, self.ledger, diag, proposal, by, manifest, judged_against)
                if fix is not None:
                    applied.append((diag, fix))
            if not applied:
                return before
            self._last_select = verify_selection(self.s.spec, [f for _, f in applied], before, manifest)
            return verify(self.s, self.ledger, self.state, applied, before, self._last_select)
        except BaseException:
            for _, fix in applied:
                if fix not in self.ledger.kept and all(fix is not f for f, _ in self.ledger.rolled_back):
                    rollback(self.s.ws.project, fix, self.s.log, "interrupted before the fix was verified")
            raise

    def _finish(self, result: RunResult, attempts: int, status: str) -> Outcome:
        return finish(self.s, self.ledger, result, attempts, status, self.policy.diff)

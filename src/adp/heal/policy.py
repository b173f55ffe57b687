"""What to apply, per mode: the autonomous confidence threshold, the headless agent as a fallback, a person's
approval in human-in-loop mode (asked through the caller's `approve`, else saved as a proposal for later).
Every proposal left to a person is noted with why it was not applied; in human-in-loop mode it is kept on
record (pending, or rejected at the prompt) so `adp fix apply <id>` can still apply it."""
from __future__ import annotations

from dataclasses import asdict
from typing import Callable

from adp.artifacts import Manifest
from adp.fixes import propose
from adp.heal.records import Ledger, NotApplied, Plan, proposal_diff, proposal_fields
from adp.models import Diagnosis, FixProposal, RunResult
from adp.proposals import AWAITING, REJECTED, PendingProposal, save
from adp.session import Session

# A person's yes or no on one fix, shown its diagnosis, proposal and diff; None = nobody to ask.
Approve = Callable[[Diagnosis, FixProposal, str], bool]


class Policy:
    """Chooses, for each diagnosis, the proposal to apply and who approved it, or stops for a person."""

    def __init__(self, session: Session, mode: str, approve: Approve | None, ledger: Ledger):
        self.s = session
        self.cfg = session.ws.config
        self.mode = mode
        self.approve = approve
        self.ledger = ledger

    def plan(self, diagnoses: list[Diagnosis], result: RunResult, manifest: Manifest) -> Plan:
        plan = Plan()
        for diag in diagnoses:
            candidates = [p for p in propose(diag, self.s.ws.project, result, manifest) if p.id not in self.ledger.tried]
            for p in candidates:
                self.s.log.emit("fix_proposed", **proposal_fields(p), diff=self.diff(p))
            chosen = self._choose(diag, candidates, result, plan)
            if chosen is not None:
                plan.items.append(chosen)
        return plan

    def diff(self, p: FixProposal) -> str:
        return proposal_diff(self.s.ws.project, p)

    def _choose(self, diag: Diagnosis, candidates: list[FixProposal], result: RunResult,
                plan: Plan) -> tuple[Diagnosis, FixProposal, str] | None:
        threshold = self.cfg.autonomous.min_confidence
        if self.mode == "autonomous":
            good = [p for p in candidates if p.confidence >= threshold and not p.needs_review]
            if good:
                return diag, good[0], "autonomous"
            agent = self._agent_proposal(diag, result)
            if agent is not None:
                return diag, agent, "agent"
            best = candidates[0] if candidates else None
            self.ledger.escalated.append((diag, best))
            if best is not None:
                why = "needs review" if best.needs_review else f"below threshold {threshold:g}"
                self.ledger.not_applied.append(NotApplied(best, why))
            plan.stop = True
            return None
        best = candidates[0] if candidates else self._agent_proposal(diag, result)
        if best is None:
            self.ledger.escalated.append((diag, None))
        elif self.approve is None:
            self._keep(diag, best, "pending", AWAITING)
        elif self.approve(diag, best, self.diff(best)):
            return diag, best, "human"
        else:
            self.s.log.emit("fix_rejected", proposal_id=best.id, rule=best.rule, by="human")
            self._keep(diag, best, "rejected", REJECTED)
        plan.stop = True
        return None

    def _agent_proposal(self, diag: Diagnosis, result: RunResult) -> FixProposal | None:
        if not self.cfg.agent.enabled:
            return None
        from adp.agent import AgentUnavailable, propose_with_agent  # imports jsonschema (~150 ms): only when on

        try:
            proposal = propose_with_agent(self.s.ws, diag, result)
        except AgentUnavailable as exc:
            self.s.log.emit("agent_unavailable", reason=str(exc), node=diag.node)
            return None
        if proposal is None or proposal.id in self.ledger.tried:
            return None
        self.s.log.emit("fix_proposed", **proposal_fields(proposal), diff=self.diff(proposal))
        return proposal

    def _keep(self, diag: Diagnosis, p: FixProposal, status: str, reason: str) -> None:
        """Keep `p` on record with `status` (pending: awaiting approval; rejected: the person said no)."""
        project = self.s.ws.project
        pending = PendingProposal(
            proposal=p,
            run_id=self.s.run_id,
            project_dir=str(project.project_dir),
            profiles_dir=str(project.profiles_dir) if project.profiles_dir else None,
            target=project.target,
            spec=asdict(self.s.spec),
            diff=self.diff(p),
            diagnosis=diag.to_dict(),
            status=status,
            reason=reason,
        )
        path = save(self.s.ws.log_dir, pending)
        if status == "pending":
            self.ledger.proposals.append(str(path))
        self.ledger.escalated.append((diag, p))
        self.ledger.not_applied.append(NotApplied(p, reason, status, str(path)))
        self.s.log.emit("proposal_saved", proposal_id=p.id, path=str(path), confidence=p.confidence, rule=p.rule,
                        status=status)

"""The loop's typed records: each fix tried (the outcome's `fixes[]`), each proposal left to a person (its
`not_applied[]`), what a run did, the node states."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adp.apply import AppliedFix, render_diff
from adp.errors import FixError
from adp.models import OK_STATUSES, PHASE_PARSE, Diagnosis, FixProposal, RunResult
from adp.project import DbtProject


@dataclass
class FixRecord:
    """One fix the run tried; `to_dict()` is the run outcome's `fixes[]` item (docs/schemas.md)."""

    proposal: FixProposal
    approved_by: str  # autonomous | human | agent
    applied: bool = False  # written, judged and (once verified) kept
    rolled_back: bool = False  # written, then restored because the re-run did not confirm it
    refused: str | None = None  # why a guard refused it (nothing of it is left on disk)
    diff: str | None = None  # the diff as written, once applied
    rollback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {**proposal_fields(self.proposal), "applied": self.applied, "rolled_back": self.rolled_back,
             "approved_by": self.approved_by}
        for key in ("refused", "diff", "rollback_reason"):  # present only once they happened
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d


@dataclass
class NotApplied:
    """A proposal the run made and left to a person; `to_dict()` is the outcome's `not_applied[]` item."""

    proposal: FixProposal
    reason: str  # below threshold 0.8 | needs review | awaiting approval | rejected by the person
    status: str | None = None  # its record's status (pending | rejected); None when not kept on record
    path: str | None = None  # logs/proposals/<id>.json when kept: `adp fix apply <id>` applies it

    def to_dict(self) -> dict[str, Any]:
        fields = proposal_fields(self.proposal)
        keys = ("id", "rule", "confidence", "node", "file", "needs_review")
        return {**{k: fields[k] for k in keys}, "reason": self.reason, "status": self.status, "path": self.path}


@dataclass
class Ledger:
    """What one run did so far: every fix tried, kept or rolled back, every cause left to a person."""

    tried: set[str] = field(default_factory=set)  # proposal ids applied or refused: never tried twice
    fixes: list[FixRecord] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)  # every root failure seen, without repeats
    escalated: list[tuple[Diagnosis, FixProposal | None]] = field(default_factory=list)  # with the best suggestion
    proposals: list[str] = field(default_factory=list)  # paths of proposals saved for a person's approval
    not_applied: list[NotApplied] = field(default_factory=list)  # every proposal left to a person, with why
    kept: list[AppliedFix] = field(default_factory=list)
    rolled_back: list[tuple[AppliedFix, str]] = field(default_factory=list)  # with the reason

    def record(self, proposal: FixProposal, approved_by: str) -> FixRecord:
        self.tried.add(proposal.id)
        rec = FixRecord(proposal, approved_by)
        self.fixes.append(rec)
        return rec

    def refusal(self, proposal_id: str) -> str | None:
        """Why the guards refused proposal `proposal_id` in this run, or None."""
        return next((r.refused for r in self.fixes if r.proposal.id == proposal_id and r.refused), None)

    def roll_back(self, fix: AppliedFix, reason: str) -> None:
        """Note a verified-and-failed fix (its files are already restored)."""
        self.rolled_back.append((fix, reason))
        for rec in self.fixes:
            if rec.proposal.id == fix.proposal.id:
                rec.applied, rec.rolled_back, rec.rollback_reason = False, True, reason


@dataclass
class Plan:
    """What one healing attempt will apply: proposals with who approved them."""

    items: list[tuple[Diagnosis, FixProposal, str]] = field(default_factory=list)
    stop: bool = False  # a person must decide (proposal saved or no safe fix)


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


def proposal_fields(p: FixProposal) -> dict[str, Any]:
    """A proposal as the run log's fix events and the outcome's `fixes[]` name it."""
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


def proposal_diff(project: DbtProject, p: FixProposal) -> str:
    """The proposal's diff against the files now, or why it cannot be shown."""
    try:
        return render_diff(project, p)
    except FixError as exc:
        return f"(cannot show diff: {exc})"

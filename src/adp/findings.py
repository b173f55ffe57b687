"""logs/findings/<run_id>.md: what a person needs, in one read, when adp stops or gives up."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from adp.apply import AppliedFix
from adp.models import FAILED_STATUSES, Diagnosis, FixProposal
from adp.session import Outcome
from adp.workspace import Workspace

NEXT_STEPS = {
    "failed": [
        "adp tried what it could; the diagnosis and the rolled-back attempts below show where it stopped.",
        "Fix the file by hand, then run `adp run` again.",
    ],
}
NO_SUGGESTION = "No fix was suggested: the failure needs a decision about intent (data, design or environment)."


def write_findings(
    ws: Workspace,
    outcome: Outcome,
    escalated: list[tuple[Diagnosis, FixProposal | None]],
    rolled_back: list[tuple[AppliedFix, str]],
    diff: Callable[[FixProposal], str],
) -> Path:
    """Write the findings file for a run that stopped for a person or gave up, and return its path."""
    lines = [f"# Run {outcome.run_id}: {outcome.status}", "", f"Project: `{outcome.project_dir}`", ""]
    failed = [n for n in outcome.nodes if n["status"] in FAILED_STATUSES]
    lines += ["## What failed", ""]
    if outcome.error:
        lines += ["dbt stopped before running any node:", "", "```", outcome.error.strip(), "```", ""]
    for n in failed:
        lines += [f"- `{n['unique_id']}` ({n.get('file') or 'file unknown'}): {n['status']}"]
        if n.get("message"):
            lines += ["", "```", n["message"].strip(), "```", ""]
    lines += ["", "## Diagnosis", ""]
    for d in outcome.diagnoses:
        where = f"{d.get('file') or '?'}" + (f" line {d['line']}" if d.get("line") else "")
        lines += [f"- **{d['category']}** in `{where}`: {d['summary']}"]
        lines += [f"  - evidence: `{e}`" for e in d.get("evidence", [])[:5]]
        if d.get("candidates"):
            best = ", ".join(f"{c['name']} ({c['score']:.2f})" for c in d["candidates"][:3])
            lines += [f"  - candidates: {best}"]
    if rolled_back:
        lines += ["", "## Tried and rolled back", ""]
        for fix, reason in rolled_back:
            lines += [f"- `{fix.proposal.rule}` (confidence {fix.proposal.confidence:.2f}): {reason}", "", "```diff", fix.diff.strip(), "```", ""]
    suggestions = [(d, p) for d, p in escalated if p is not None]
    why = {n["id"]: n["reason"] for n in outcome.not_applied}
    if suggestions:
        lines += ["", "## Suggested fix", ""]
        for d, p in suggestions:
            lines += [
                f"- proposal `{p.id}`, rule `{p.rule}`, confidence {p.confidence:.2f}"
                + (" (needs review: it changes what the data means or needs intent)" if p.needs_review else ""),
                f"  - {p.rationale}",
            ]
            if p.id in why:
                lines += [f"  - not applied: {why[p.id]}"]
            if p.action:
                lines += [f"  - run action: `{p.action}`"]
            text = diff(p).strip()
            if text:
                lines += ["", "```diff", text, "```", ""]
    steps = NEXT_STEPS.get(outcome.status, []) + [_step(n) for n in outcome.not_applied]
    if outcome.status == "needs_review" and not suggestions:
        steps.append(NO_SUGGESTION)
    lines += ["", "## Next steps", ""] + [f"- {s}" for s in steps]
    path = ws.log_dir / "findings" / f"{outcome.run_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _step(held: dict[str, Any]) -> str:
    """What a person can do with a proposal the run did not apply (its real id in the commands)."""
    pid = held["id"]
    if held["status"] == "pending":
        return f"Approve proposal `{pid}` with `adp fix apply {pid}`, or reject it with `adp fix reject {pid}` (`{held['path']}`)."
    if held["status"] == "rejected":
        return f"You rejected proposal `{pid}`; it is kept (`adp fix list --all`) and `adp fix apply {pid}` still applies it."
    return (f"Proposal `{pid}` was not applied ({held['reason']}): run `adp run --mode human-in-loop` to be asked "
            "about it, or make the change by hand.")

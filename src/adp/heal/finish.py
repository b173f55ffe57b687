"""The end of a heal: the outcome, what happens to the backups, the new baseline after a green run, and
the findings file when the run stopped for a person or gave up."""
from __future__ import annotations

import shutil
from typing import Callable

from adp.findings import write_findings
from adp.heal.good_run import record_good_run
from adp.heal.records import Ledger
from adp.models import EXIT_FAILED, EXIT_NEEDS_REVIEW, EXIT_OK, EXIT_USAGE, FixProposal, RunResult
from adp.session import Outcome, Session, nodes_json

EXIT_CODES = {"success": EXIT_OK, "healed": EXIT_OK, "needs_review": EXIT_NEEDS_REVIEW, "refused": EXIT_USAGE}


def finish(session: Session, ledger: Ledger, result: RunResult, attempts: int, status: str,
           diff: Callable[[FixProposal], str]) -> Outcome:
    """The run's outcome with `status`; `diff` shows a suggested fix in the findings."""
    ws = session.ws
    outcome = Outcome(
        run_id=session.run_id,
        status=status,
        exit_code=EXIT_CODES.get(status, EXIT_FAILED),
        attempts=attempts,
        project_dir=str(ws.project.project_dir),
        nodes=nodes_json(result),
        diagnoses=[d.to_dict() for d in ledger.diagnoses],
        fixes=[r.to_dict() for r in ledger.fixes],
        error=result.error,
        log_path=str(session.log.path),
        proposals=ledger.proposals,
        not_applied=[n.to_dict() for n in ledger.not_applied],
    )
    backups = ws.log_dir / "backups" / session.run_id
    if status == "healed" and not ws.config.autonomous.create_backups:
        shutil.rmtree(backups, ignore_errors=True)  # taken for rollback; not kept after a heal
    elif ledger.kept:
        outcome.backups_dir = str(backups)
    if status in ("success", "healed"):
        record_good_run(session, result, outcome)
    if status in ("failed", "needs_review"):
        outcome.findings_path = str(write_findings(ws, outcome, ledger.escalated, ledger.rolled_back, diff, session.log))
    return outcome

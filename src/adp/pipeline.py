"""The entry points above the loop: `adp run` (ingest stale sources, build, heal) and `adp fix apply`
(apply an approved proposal, verify, go on healing), each under the writer lock with one outcome.

Either ends by marking superseded the older proposals its run made moot (their node passed, their file
changed); a stored proposal that is stale, applied, superseded or rejected for good is refused before
anything runs."""
from __future__ import annotations

from adp.engine import EventHandler
from adp.errors import FixError
from adp.heal import Approve, FixRecord, Healer
from adp.models import EXIT_USAGE, FixProposal
from adp.proposals import PendingProposal, mark, refusal, supersede
from adp.runlog import RunLog, load_result
from adp.session import BuildSpec, Notify, Outcome, Session, run_locked, run_spec
from adp.workspace import Workspace

__all__ = ["BuildSpec", "Outcome", "apply_approved", "apply_pending", "run_pipeline"]


def run_pipeline(
    ws: Workspace,
    spec: BuildSpec,
    *,
    heal: bool = True,
    mode: str | None = None,
    progress: EventHandler | None = None,
    approve: Approve | None = None,
    notify: Notify | None = None,
) -> Outcome:
    """Ingest, build and (unless `heal` is off) heal; the writer lock is held throughout.

    `approve` asks a person about each fix in human-in-loop mode (None: save a proposal and stop);
    `notify` receives notes for a person (waiting for the lock); `progress` dbt's events.
    """
    from adp.ingest import ingest_for_run  # imports duckdb: only when a run starts

    mode = mode or ws.config.execution.mode
    session = Session(ws, spec, progress, notify=notify)

    def body() -> Outcome:
        ingested = ingest_for_run(ws, session.log) if ws.config.ingest.on_run else []
        outcome = Healer(session, mode, approve).run(heal)
        outcome.ingested = ingested
        _supersede(session, outcome)
        return outcome

    return run_locked(session, mode, body, heal=heal)


def apply_pending(
    ws: Workspace,
    pending: PendingProposal,
    mode: str | None = None,
    progress: EventHandler | None = None,
    notify: Notify | None = None,
) -> Outcome:
    """`adp fix apply <id>`: apply a stored proposal a person approved (pending, or rejected at the prompt).

    A proposal that was applied, rejected with `adp fix reject`, superseded, or whose file changed since,
    is refused (status `refused`, exit 2, the reason in `error`) and nothing runs or is written.
    """
    reason = refusal(ws.project, pending)
    if reason is not None:
        return _refused(ws, pending, reason)
    outcome = apply_approved(ws, pending.proposal, pending.run_id, "human", mode, progress, notify)
    if outcome.status != "refused":
        tried = next((f for f in outcome.fixes if f["id"] == pending.proposal.id), {})
        undone = tried.get("rollback_reason")
        mark(ws.log_dir, pending.proposal.id, "applied", f"rolled back: {undone}" if undone else None)
    return outcome


def apply_approved(
    ws: Workspace,
    proposal: FixProposal,
    run_id: str,
    approved_by: str,
    mode: str | None = None,
    progress: EventHandler | None = None,
    notify: Notify | None = None,
) -> Outcome:
    """Apply a proposal a person (or the diagnostician agent) approved for run `run_id`, verify, go on healing."""
    stopped = load_result(ws.log_dir, run_id)
    if stopped is None:
        raise FixError(f"run {run_id} has no saved result in {ws.log_dir / 'runs'}; run `adp run` first")
    session = Session(ws, run_spec(ws.log_dir, run_id), progress, run_id=run_id, notify=notify)
    mode = mode or ws.config.execution.mode
    healer = Healer(session, mode)

    def body() -> Outcome:
        outcome = healer.resume(stopped, proposal, approved_by)
        if outcome.status != "refused":
            _supersede(session, outcome, proposal.id)
        return outcome

    return run_locked(session, mode, body, resumed_with=proposal.id)


def _supersede(session: Session, outcome: Outcome, applied: str | None = None) -> None:
    """Mark superseded the open proposals this run made moot, but the ones it kept and the one it applied."""
    keep = {n["id"] for n in outcome.not_applied if n["path"]}
    if applied:
        keep.add(applied)
    for p in supersede(session.ws.log_dir, session.ws.project, session.run_id, outcome.nodes, keep):
        session.log.emit("proposal_superseded", proposal_id=p.proposal.id, rule=p.proposal.rule, reason=p.reason)


def _refused(ws: Workspace, pending: PendingProposal, reason: str) -> Outcome:
    """The outcome of a proposal refused before anything ran; the refusal goes on its run's record."""
    log = RunLog(ws.log_dir, pending.run_id)
    p = pending.proposal
    log.emit("fix_refused", proposal_id=p.id, rule=p.rule, reason=reason, by="human")
    return Outcome(run_id=pending.run_id, status="refused", exit_code=EXIT_USAGE, attempts=0,
                   project_dir=str(ws.project.project_dir), fixes=[FixRecord(p, "human", refused=reason).to_dict()],
                   error=reason, log_path=str(log.path))

"""The entry points above the loop: `adp run` (ingest stale sources, build, heal) and `adp fix apply`
(apply an approved proposal, verify, go on healing), each under the writer lock with one outcome."""
from __future__ import annotations

from adp.engine import EventHandler
from adp.errors import FixError
from adp.heal import Approve, Healer
from adp.models import FixProposal
from adp.runlog import load_result
from adp.session import BuildSpec, Notify, Outcome, Session, run_locked, run_spec
from adp.workspace import Workspace

__all__ = ["BuildSpec", "Outcome", "apply_approved", "run_pipeline"]


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
        return outcome

    return run_locked(session, mode, body, heal=heal)


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
    return run_locked(session, mode, lambda: healer.resume(stopped, proposal, approved_by), resumed_with=proposal.id)

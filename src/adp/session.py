"""One run's session: the build spec, the dbt invocations and run log it shares, the writer lock around it,
and the outcome it reports. Below both the entry points (`adp.pipeline`) and the loop (`adp.heal`)."""
from __future__ import annotations

import logging
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from adp.artifacts import read_result
from adp.check.state import save as save_state
from adp.engine import Engine, EventHandler, get_engine
from adp.engine.base import interrupt_signal, interrupts_raised
from adp.errors import AdpError, FixError, Interrupted
from adp.lock import WriterLock
from adp.models import FAILED_STATUSES, NodeResult, RunResult
from adp.runlog import RunLog, new_run_id, process_identity, read_events, save_result
from adp.workspace import Workspace

log = logging.getLogger(__name__)

Notify = Callable[[str], None]  # where a session's notes for a person go (the CLI prints them on stderr)


@dataclass(frozen=True)
class BuildSpec:
    """The user's selection and flags; kept identical across the loop's iterations."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    vars: str | None = None
    full_refresh: bool = False
    threads: int | None = None
    extra: tuple[str, ...] = ()  # anything after `--`, passed to dbt unchanged

    def args(self, select: tuple[str, ...] | None = None, full_refresh: bool = False) -> list[str]:
        """`dbt build` arguments; `select` narrows a verification re-run to a subgraph."""
        args = ["build"]
        sel = self.select if select is None else select
        if sel:
            args += ["--select", *sel]
        if self.exclude:
            args += ["--exclude", *self.exclude]
        if self.vars:
            args += ["--vars", self.vars]
        if self.full_refresh or full_refresh:
            args.append("--full-refresh")
        if self.threads:
            args += ["--threads", str(self.threads)]
        return args + list(self.extra)


def run_spec(log_dir: Path, run_id: str) -> BuildSpec:
    """The BuildSpec a run was started with (from its run_started event)."""
    for ev in read_events(log_dir, run_id):
        if ev.get("event") in ("run_started", "check_started") and "spec" in ev:  # `adp check` saves proposals too
            return BuildSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in ev["spec"].items()})
    raise FixError(f"run {run_id} is not in the run log {log_dir}")


@dataclass
class Outcome:
    """What `adp run --json` prints (documented in docs/schemas.md; extended, never renamed)."""

    run_id: str
    status: str  # success | healed | failed | needs_review
    exit_code: int
    attempts: int
    project_dir: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    diagnoses: list[dict[str, Any]] = field(default_factory=list)
    fixes: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0
    log_path: str = ""
    findings_path: str | None = None
    proposals: list[str] = field(default_factory=list)
    not_applied: list[dict[str, Any]] = field(default_factory=list)  # proposals left to a person, with why
    backups_dir: str | None = None
    ingested: list[dict[str, Any]] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    report_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Session:
    """One `adp run`: the workspace, engine, run log and progress shared by every invocation in it."""

    def __init__(
        self,
        ws: Workspace,
        spec: BuildSpec,
        progress: EventHandler | None = None,
        engine: Engine | None = None,
        run_id: str | None = None,
        notify: Notify | None = None,
    ):
        self.ws = ws
        self.spec = spec
        self.run_id = run_id or new_run_id()
        self.log = RunLog(ws.log_dir, self.run_id)
        self.engine = engine or get_engine(ws.config.engine)
        self.progress = progress
        self.notify: Notify = notify or log.info  # a library run without a CLI logs its notes
        self.invocations = 0

    def build(self, select: tuple[str, ...] | None = None, full_refresh: bool = False) -> RunResult:
        """Run `dbt build` once and log every node that finished."""
        args = self.spec.args(select, full_refresh)
        self.invocations += 1
        self.log.emit("dbt_invoked", args=args, invocation=self.invocations)
        engine_result = self.engine.invoke(self.ws.project, args, self.progress)
        result = read_result(self.ws.project, engine_result)
        ran_on = engine_result.engine
        for node in result.nodes:
            self.log.emit("node_finished", **_node_fields(node))
        save_result(self.ws.log_dir, self.run_id, result)
        self.log.emit(
            "dbt_finished",
            engine=ran_on,
            invocation_id=result.invocation_id,
            exit_code=result.exit_code,
            phase=result.phase,
            elapsed=result.elapsed,
            error=result.error,
        )
        return result


def _node_fields(node: NodeResult) -> dict[str, Any]:
    return {
        "node": node.unique_id,
        "status": node.status,
        "execution_time": node.execution_time,
        "failures": node.failures,
        "file": node.file,
        "message": node.message if node.failed else None,
    }


def run_locked(session: Session, mode: str, body: Callable[[], Outcome], **started: Any) -> Outcome:
    """Hold the writer lock around `body`, logging run_started and run_finished for the session.

    SIGINT/SIGTERM (from the lock wait on) raise `Interrupted`: the engine stops and reaps dbt while the
    exception passes through it, so dbt has exited before the lock is released; the run is then logged
    as `interrupted` (exit_code 128 + signal) and the exception goes on to the CLI (exit 130 / 143).
    run_started carries this process's pid and start time, so a run whose process died without a
    run_finished (kill -9) reads as interrupted in `adp history`, not running.
    """
    ws = session.ws
    began = time.monotonic()
    with interrupts_raised(), WriterLock(ws.lock_path(), ws.config.execution.lock_timeout_seconds, on_wait=session.notify):
        session.log.emit(
            "run_started",
            project_dir=str(ws.project.project_dir),
            args=session.spec.args(),
            spec=asdict(session.spec),
            mode=mode,
            engine=session.engine.name,
            **process_identity(),
            **started,
        )
        try:
            outcome = body()
        except (Interrupted, KeyboardInterrupt) as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else (interrupt_signal() or signal.SIGINT)
            session.log.emit(
                "run_finished",
                status="interrupted",
                exit_code=128 + signum,
                signal=signal.Signals(signum).name,
                attempts=session.invocations,
                duration=round(time.monotonic() - began, 3),
                failed_nodes=0,
                findings_path=None,
            )
            if isinstance(exc, Interrupted):
                raise
            raise Interrupted(signum) from None
        except AdpError as exc:  # e.g. a required source with no input: the run ends, on record, before dbt
            session.log.emit("run_finished", status="failed", exit_code=exc.exit_code, attempts=session.invocations,
                             duration=round(time.monotonic() - began, 3), failed_nodes=0, findings_path=None,
                             error=str(exc))
            raise
        outcome.duration = round(time.monotonic() - began, 3)
        session.log.emit(
            "run_finished",
            status=outcome.status,
            exit_code=outcome.exit_code,
            attempts=outcome.attempts,
            duration=outcome.duration,
            failed_nodes=sum(1 for n in outcome.nodes if n["status"] in FAILED_STATUSES),
            findings_path=outcome.findings_path,
        )
        if outcome.status in ("success", "healed") and not session.spec.select and not session.spec.exclude:
            save_state(ws.project, ws.log_dir, session.spec.vars)  # what `adp check` compares with
        if ws.config.report.on_run:
            outcome.report_path = _write_report(session, refresh_lineage=outcome.status not in ("success", "healed"))
    return outcome


def _write_report(session: Session, refresh_lineage: bool) -> str | None:
    """Regenerate the HTML report; a report problem is logged, never fails the pipeline."""
    from adp.report import write_report  # imports duckdb (the history DB): only when a report is due

    try:
        return str(write_report(session.ws, refresh_lineage))
    except Exception as exc:  # the pipeline's outcome stands whatever the report does
        session.log.emit("report_failed", error=f"{type(exc).__name__}: {exc}")
        return None


def nodes_json(result: RunResult) -> list[dict[str, Any]]:
    return [asdict(n) for n in result.nodes]

"""Drive an ingest: pick sources, plan their jobs, load each into its DuckDB file, report and log."""
from __future__ import annotations

import difflib
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import duckdb

from adp.errors import UsageError
from adp.ingest import state
from adp.ingest.config import Source, SourcesConfig, load_sources
from adp.ingest.job import Context, Job
from adp.ingest.load import LoadSummary, run_job
from adp.ingest.registry import KINDS
from adp.lock import WriterLock
from adp.runlog import RunLog, new_run_id

if TYPE_CHECKING:
    from adp.workspace import Workspace

Progress = Callable[[dict[str, Any]], None]


def run_ingest(
    ws: "Workspace",
    names: Iterable[str] = (),
    *,
    kinds: Iterable[str] | None = None,
    stale_only: bool = False,
    log: RunLog | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LoadSummary]:
    """Ingest the named sources (all enabled ones when `names` is empty) from `<config_dir>/sources.yml`.

    Args:
        names: source names; unknown names raise UsageError (with the closest match).
        kinds: only sources of these kinds (`files`, `apis`); None: every kind.
        stale_only: skip jobs whose inputs did not change since their last successful load.
        log: run log receiving `ingest_loaded`, `ingest_skipped`, `ingest_failed`, `schema_drift`.
        progress: receives progress events (`load_started`, `load_finished`, `page`).
        sleep: used for HTTP retry waits.

    Raises:
        ConfigError: sources.yml is invalid. UsageError: it is missing, or a name is unknown.
    """
    config = load_sources(ws.config_dir)
    if config is None:
        raise UsageError(f"{ws.config_dir / 'sources.yml'}: no sources config; create it (see docs) or pass --config-dir")
    if not _feeds(config, ws):
        raise UsageError(f"{config.path}: `project`: these sources feed {config.resolve(config.project or '')}, "
                         f"not {ws.project.project_dir}; pass the matching --project-dir or --config-dir")
    sources = pick(config, list(names), kinds)
    return _ingest(ws, config, sources, stale_only=stale_only, log=log or RunLog(ws.log_dir, "ingest-" + new_run_id()),
                   progress=progress, sleep=sleep, profile_only=False)


def ingest_for_run(ws: "Workspace", log: RunLog) -> list[dict[str, Any]]:
    """`adp run`'s ingest: stale or changed sources that load into this profile's DuckDB file.

    Returns one summary per attempted load (status loaded, empty or error); skipped sources are only
    logged. No sources.yml, or one that feeds another dbt project, means nothing to do. The caller
    holds the writer lock. A failing source is reported, never raised; an invalid sources.yml raises
    ConfigError.
    """
    from adp.warehouses.duckdb import database_path

    config = load_sources(ws.config_dir)
    if config is None or not _feeds(config, ws) or database_path(ws.project) is None:
        return []
    summaries = _ingest(ws, config, pick(config, [], None), stale_only=True, log=log, progress=None,
                        sleep=time.sleep, profile_only=True)
    return [s.to_dict() for s in summaries if s.status not in ("skipped", "disabled")]


def pick(config: SourcesConfig, names: list[str], kinds: Iterable[str] | None) -> list[Source]:
    """Sources to ingest, in file order; unknown names raise UsageError with the closest match."""
    pool = [s for s in config.sources if kinds is None or s.kind in set(kinds)]
    if not names:
        return pool
    known = {s.name: s for s in pool}
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else f" (known: {', '.join(known) or 'none'})"
            raise UsageError(f"{config.path}: no source `{name}`{hint}")
    return [s for s in pool if s.name in names]


def _feeds(config: SourcesConfig, ws: "Workspace") -> bool:
    return config.project is None or config.resolve(config.project) == ws.project.project_dir


def _ingest(ws: "Workspace", config: SourcesConfig, sources: list[Source], *, stale_only: bool, log: RunLog,
            progress: Progress | None, sleep: Callable[[float], None], profile_only: bool) -> list[LoadSummary]:
    from adp.warehouses.duckdb import database_path

    profile_db = database_path(ws.project)
    summaries: list[LoadSummary] = []
    with tempfile.TemporaryDirectory(prefix="adp-ingest-") as tmp, ExitStack() as stack:
        ctx = Context(config, Path(tmp), progress or (lambda event: None), sleep)
        jobs: list[Job] = []
        for source in sources:
            if not source.enabled:
                summaries.append(_note(log, LoadSummary(source.name, source.kind, "", "disabled", note="disabled in sources.yml")))
                continue
            try:
                jobs += KINDS[source.kind].plan(source, ctx)
            except Exception as exc:  # noqa: BLE001 - a source that cannot be planned is reported, not raised
                summaries.append(_failed(log, LoadSummary(source.name, source.kind, "", "error", error=str(exc))))
        conns: dict[Path, Any] = {}
        for number, job in enumerate(jobs, 1):
            db = job.database or profile_db
            blank = LoadSummary(job.source.name, job.source.kind, job.qualified, "skipped", database=str(db) if db else None)
            if profile_only and db != profile_db:
                blank.note = "targets another database than this profile's"
                summaries.append(_note(log, blank))
                continue
            if db is None:
                blank.status, blank.error = "error", "no DuckDB file to load into: the profile is not a DuckDB file; set `database:`"
                summaries.append(_failed(log, blank))
                continue
            try:
                conn = conns.get(db) or conns.setdefault(db, _connect(stack, db, config.state_schema))
            except duckdb.Error as exc:
                blank.status, blank.error = "error", f"cannot open {db}: {exc}"
                summaries.append(_failed(log, blank))
                continue
            if stale_only and not job.is_stale(state.read_state(conn, config.state_schema, job), time.time()):
                blank.note = "unchanged since its last load"
                summaries.append(_note(log, blank))
                continue
            ctx.progress({"event": "job", "table": job.qualified, "number": number, "total": len(jobs)})
            summary = run_job(conn, job, ctx, log.run_id, lambda d: log.emit("schema_drift", **d))
            summary.database = str(db)
            summaries.append(_failed(log, summary) if summary.status == "error" else _loaded(log, summary))
    return summaries


def _connect(stack: ExitStack, db: Path, schema: str) -> Any:
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = stack.enter_context(duckdb.connect(str(db)))
    state.ensure_tables(conn, schema)
    return conn


def _loaded(log: RunLog, s: LoadSummary) -> LoadSummary:
    log.emit("ingest_loaded", source=s.source, table=s.table, status=s.status, rows=s.rows, files=s.files,
             bytes=s.bytes, seconds=s.seconds, rejects=s.rejects, load_id=s.load_id, warnings=s.warnings)
    return s


def _failed(log: RunLog, s: LoadSummary) -> LoadSummary:
    log.emit("ingest_failed", source=s.source, table=s.table, error=s.error, load_id=s.load_id, rejects=s.rejects)
    return s


def _note(log: RunLog, s: LoadSummary) -> LoadSummary:
    log.emit("ingest_skipped", source=s.source, table=s.table, reason=s.note)
    return s


@dataclass
class IngestOutcome:
    """What `adp ingest --json` and the ingest scripts print."""

    status: str  # ok | error
    exit_code: int
    loads: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest(ws: "Workspace", names: Iterable[str] = (), *, all_sources: bool = False, kinds: Iterable[str] | None = None,
           stale_only: bool = False, progress: Progress | None = None) -> IngestOutcome:
    """Standalone ingest (`adp ingest`, the scripts): takes the writer lock, then `run_ingest`."""
    names = list(names)
    if not names and not all_sources:
        raise UsageError("name the sources to ingest, or pass --all")
    if names and all_sources:
        raise UsageError("pass source names or --all, not both")
    with WriterLock(ws.lock_path(), ws.config.execution.lock_timeout_seconds):
        summaries = run_ingest(ws, names, kinds=kinds, stale_only=stale_only, progress=progress)
    failed = any(s.status == "error" for s in summaries)
    return IngestOutcome("error" if failed else "ok", 1 if failed else 0, [s.to_dict() for s in summaries])

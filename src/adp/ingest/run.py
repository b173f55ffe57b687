"""Drive an ingest: pick sources, plan their jobs, load each into its DuckDB file, report and log."""
from __future__ import annotations

import difflib
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import duckdb  # loaded with the package: every ingest opens DuckDB files

from adp.errors import AdpError, UsageError
from adp.ingest import state
from adp.ingest.config import check_own_table, duplicate_target, load_sources
from adp.ingest.job import Context, Job
from adp.ingest.load import LoadSummary, missing_message, run_job
from adp.ingest.registry import KINDS
from adp.ingest.source import Source, SourcesConfig
from adp.lock import WriterLock
from adp.runlog import RunLog, new_run_id
from adp.warehouses.duckdb import database_path

if TYPE_CHECKING:
    from adp.workspace import Workspace

Progress = Callable[[dict[str, Any]], None]


class SourceMissing(AdpError):
    """`adp run`: a source marked `required: true` has no input (its path or pattern matches nothing).

    Raised before anything is loaded, so dbt does not run on data that lacks it and every table stays
    as it was. Exit 1 (the run failed on its inputs; the config itself is valid). `loads` are the
    summaries of the missing sources (status `missing`, `error` set).
    """

    exit_code = 1

    def __init__(self, messages: list[str], loads: list[dict[str, Any]]):
        self.loads = loads
        super().__init__("\n".join(messages) + "\nnothing was ingested and dbt did not run; add the input "
                         "(or set `required: false`) and run again")


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
        log: run log receiving `ingest_loaded`, `ingest_skipped`, `ingest_missing`, `ingest_failed`, `schema_drift`.
        progress: receives progress events (`load_started`, `load_finished`, `page`).
        sleep: used for HTTP retry waits.

    A source whose path or pattern matches nothing comes back with status `missing` (a warning; with
    `required: true` also an `error`), and its table is left as it was.

    Raises:
        ConfigError: sources.yml is invalid, or two sources would load one table (checked before any load).
        UsageError: it is missing, or a name is unknown.
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

    Returns one summary per attempted load (status loaded, empty, missing or error); skipped sources are
    only logged. A source without input (status `missing`) is reported on every run, never skipped as
    unchanged. No sources.yml, or one that feeds another dbt project, means nothing to do. The caller
    holds the writer lock. A failing source is reported, never raised.

    Raises:
        ConfigError: sources.yml is invalid, or two sources would load one table (before any load).
        SourceMissing: a `required` source matches nothing (before any load; exit 1).
    """
    config = load_sources(ws.config_dir)
    if config is None or not _feeds(config, ws) or database_path(ws.project) is None:
        return []
    summaries = _ingest(ws, config, pick(config, [], None), stale_only=True, log=log, progress=None,
                        sleep=time.sleep, profile_only=True, stop_on_required=True)
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
            progress: Progress | None, sleep: Callable[[float], None], profile_only: bool,
            stop_on_required: bool = False) -> list[LoadSummary]:
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
        _check_collisions(config, ctx, jobs, [s for s in config.sources if s.enabled and s not in sources], profile_db)
        if stop_on_required:
            _stop_on_required(config, log, [j for j in jobs if not profile_only or (j.database or profile_db) == profile_db])
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
            if stale_only and not job.missing and not job.is_stale(state.read_state(conn, config.state_schema, job), time.time()):
                blank.note = "unchanged since its last load"
                summaries.append(_note(log, blank))
                continue
            ctx.progress({"event": "job", "table": job.qualified, "number": number, "total": len(jobs)})
            summary = run_job(conn, job, ctx, log.run_id, lambda d: log.emit("schema_drift", **d))
            summary.database = str(db)
            if summary.status == "missing":
                summaries.append(_missing(log, summary))
            else:
                summaries.append(_failed(log, summary) if summary.status == "error" else _loaded(log, summary))
    return summaries


def _check_collisions(config: SourcesConfig, ctx: Context, jobs: list[Job], others: list[Source], profile_db: Path | None) -> None:
    """Two jobs loading one table (names compared as DuckDB does, ignoring case) raise ConfigError before any load.

    sources.yml's own check covers the tables the settings name; this one covers tables named after the
    files a glob finds. `others` (enabled sources not ingested now) are planned too, so `adp ingest a`
    cannot replace what `b` loads; a source of them that cannot be planned is left out.
    """
    planned = list(jobs)
    for source in others:
        try:
            planned += KINDS[source.kind].plan(source, ctx)
        except Exception:  # noqa: BLE001 - reported when that source itself is ingested
            continue
    seen: dict[tuple[str | None, str, str], Job] = {}
    for job in planned:
        check_own_table(config, job.target.schema, job.table, job.source.key)
        if job.missing:  # loads nothing; a table named by the settings was checked when sources.yml was read
            continue
        db = job.database or profile_db
        ident = (str(db) if db else None, job.target.schema.lower(), job.table.lower())
        first = seen.setdefault(ident, job)
        if first is not job:
            raise duplicate_target(config.path, job.source.key, job.qualified, first.source.key, first.qualified,
                                   job.origin, first.origin)


def _stop_on_required(config: SourcesConfig, log: RunLog, jobs: list[Job]) -> None:
    """`adp run`: a required source without input stops the run here, before any load (SourceMissing)."""
    missing = [j for j in jobs if j.missing and j.source.required]
    if not missing:
        return
    loads = []
    for job in missing:
        s = LoadSummary(job.source.name, job.source.kind, job.qualified, "missing",
                        database=str(job.database) if job.database else None, error=missing_message(config.path, job))
        loads.append(_missing(log, s).to_dict())
    raise SourceMissing([load["error"] for load in loads], loads)


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


def _missing(log: RunLog, s: LoadSummary) -> LoadSummary:
    log.emit("ingest_missing", source=s.source, table=s.table, required=s.error is not None,
             reason=s.error or (s.warnings[0] if s.warnings else None), load_id=s.load_id)
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
    failed = any(s.status == "error" or s.error is not None for s in summaries)  # incl. a required source missing
    return IngestOutcome("error" if failed else "ok", 1 if failed else 0, [s.to_dict() for s in summaries])

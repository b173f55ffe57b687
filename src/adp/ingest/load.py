"""Load one job's batch into DuckDB atomically: stage, check, swap (or append/merge), record — one transaction.

A failure anywhere (unreadable file, too many rejects, schema drift under `fail`) rolls the transaction
back, so the previous table and cursor stay as they were; the failure itself is recorded in `_loads`.
Input that yields no rows (an empty file, a CSV with only a header, an API with no records) and a source
with no input at all (status `missing`) leave the previous table as it was, with a warning.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from adp.ingest import state
from adp.ingest.job import Batch, Context, Job, JobState
from adp.ingest.sql import ident, qualified

METADATA = ("_source_file", "_loaded_at", "_load_id")
REJECTS_SHOWN = 20  # rejected rows listed in a summary (all of them are kept in `_rejects`)


@dataclass
class LoadSummary:
    """One source table's outcome; `to_dict()` is what `adp ingest --json` and `adp run` report."""

    source: str
    kind: str
    table: str  # schema.table
    status: str  # loaded | empty | missing | error | skipped | disabled
    database: str | None = None
    load_id: str | None = None
    rows: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rejects: int = 0  # malformed rows kept aside
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first of them: file, line, column, error
    fingerprint: str | None = None  # hash of the loaded (name, type) columns
    drift: dict[str, Any] | None = None  # {added, removed, changed} against the previous load
    cursor: str | None = None  # incremental cursor after this load
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    note: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadError(Exception):
    """A load failed for a reason adp can state (rejects over the limit, drift under `fail`, ...)."""

    def __init__(self, message: str, rejected: list[dict[str, Any]] | None = None, rejects: int = 0):
        super().__init__(message)
        self.rejected, self.rejects = rejected or [], rejects


def run_job(conn: Any, job: Job, ctx: Context, run_id: str, on_drift: Callable[[dict[str, Any]], None]) -> LoadSummary:
    """Extract and load one job; never raises for data problems (they come back as status `error`)."""
    schema = ctx.config.state_schema
    summary = LoadSummary(job.source.name, job.source.kind, job.qualified, "error", load_id=uuid.uuid4().hex[:12])
    started, t0 = state.utcnow(), time.monotonic()
    record: dict[str, Any] = {"load_id": summary.load_id, "run_id": run_id, "source": job.source.name,
                              "kind": job.source.kind, "table_name": job.qualified, "token": job.token,
                              "started_at": started}
    try:
        if job.missing:
            summary.status = "missing"
            if job.source.required:
                summary.error = missing_message(ctx.config.path, job)
            else:
                summary.warnings.append(f"{job.missing}; nothing loaded, {job.qualified} is left as it was")
        else:
            prior = state.read_state(conn, schema, job)
            batch = job.extract(ctx, prior)
            summary.files, summary.bytes, summary.stats = batch.files, batch.bytes, batch.stats
            summary.warnings += batch.warnings
            if batch.sql is None:
                summary.status = "empty"
                summary.warnings.append("nothing to load; the table is left as it was")
            else:
                ctx.progress({"event": "load_started", "table": job.qualified, "files": batch.files, "bytes": batch.bytes})
                loaded = _load(conn, job, batch, prior, summary, schema, record, on_drift, t0)
                summary.status = "loaded" if loaded else "empty"
    except Exception as exc:  # noqa: BLE001 - any failure of one source is reported, never raised
        _rollback(conn)
        summary.status, summary.error = "error", clip(str(exc).strip() or type(exc).__name__)
        if isinstance(exc, LoadError) and exc.rejected:
            summary.rejects, summary.rejected = exc.rejects, exc.rejected[:REJECTS_SHOWN]
            state.record_rejects(conn, schema, summary.load_id, job.qualified, exc.rejected)
    summary.seconds = round(time.monotonic() - t0, 3)
    if summary.status != "loaded":
        state.record_load(conn, schema, {**record, "status": summary.status, "rows": 0, "files": summary.files,
                                         "bytes": summary.bytes, "seconds": summary.seconds, "error": summary.error,
                                         "rejects": summary.rejects, "finished_at": state.utcnow()})
    else:
        mb = summary.bytes / 1e6
        ctx.progress({"event": "load_finished", "table": job.qualified, "rows": summary.rows, "files": summary.files,
                      "seconds": summary.seconds, "mb_per_s": round(mb / summary.seconds, 1) if summary.seconds else None})
    return summary


def missing_message(file: Any, job: Job) -> str:
    """The error of a `required` source without input: names the file, the source's key and the reason."""
    return f"{file}: `{job.source.key}`: required, but {job.missing}; {job.qualified} is left as it was"


def _load(conn: Any, job: Job, batch: Batch, prior: JobState, summary: LoadSummary, schema: str,
          record: dict[str, Any], on_drift: Callable[[dict[str, Any]], None], t0: float) -> bool:
    """Stage and swap/append/merge; False (rolled back, nothing changed) when the batch has no rows and the
    table exists already: a header-only CSV must not replace loaded data with nothing."""
    tschema, table = job.target.schema, job.table
    target, stage = qualified(tschema, table), qualified(tschema, f"_adp_stage_{table}")
    loaded_at = record["started_at"]
    conn.execute("BEGIN TRANSACTION")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(tschema)}")
    conn.execute(f"DROP TABLE IF EXISTS {stage}")
    conn.execute(
        f"CREATE TABLE {stage} AS SELECT *, ?::TIMESTAMP AS _loaded_at, ?::VARCHAR AS _load_id FROM ({batch.sql})",
        [loaded_at, summary.load_id],
    )
    rejected = _rejected(conn, batch) if batch.rejects else []
    summary.rejects, summary.rejected = len(rejected), rejected[:REJECTS_SHOWN]
    if len(rejected) > batch.max_rejects:
        first = rejected[0]
        raise LoadError(
            f"{len(rejected)} malformed rows (max_rejects is {batch.max_rejects}); first at {first['file']} "
            f"line {first['line']}: {first['error']}",
            rejected, len(rejected),
        )
    summary.rows = conn.execute(f"SELECT count(*) FROM {stage}").fetchone()[0]
    if summary.rows == 0 and _exists(conn, tschema, table):
        conn.execute("ROLLBACK")
        what = ", ".join(batch.inputs[:3]) + (f" and {len(batch.inputs) - 3} more" if len(batch.inputs) > 3 else "")
        summary.warnings.append(f"{what or 'the input'}: no data rows (only a header?); nothing to load, "
                                f"{job.qualified} is left as it was")
        state.record_rejects(conn, schema, summary.load_id, job.qualified, rejected)
        return False
    if summary.rows == 0:
        summary.warnings.append(f"no data rows (only a header?); {job.qualified} is created with its columns and no rows")
    columns = _columns(conn, stage)
    summary.fingerprint = fingerprint(columns)
    if prior.columns is not None and set(prior.columns) != set(columns):
        summary.drift = drift(prior.columns, columns)
        on_drift({"table": job.qualified, "source": job.source.name, "policy": job.target.on_schema_change,
                  **summary.drift})
        if job.target.on_schema_change == "fail":
            raise LoadError(f"schema drift in {job.qualified} (on_schema_change: fail): {describe_drift(summary.drift)}")
    if job.cursor_field:
        value = conn.execute(f"SELECT max({ident(job.cursor_field)})::VARCHAR FROM {stage}").fetchone()[0]
        summary.cursor = value if value is not None else prior.cursor
    if job.target.write == "replace" or not _exists(conn, tschema, table):
        conn.execute(f"DROP TABLE IF EXISTS {target}")
        conn.execute(f"ALTER TABLE {stage} RENAME TO {ident(table)}")
    else:
        _evolve(conn, target, stage)
        if job.target.write == "merge":
            keys = [ident(k) for k in job.target.primary_key]
            on = " AND ".join(f"{target}.{k} = {stage}.{k}" for k in keys)
            conn.execute(f"DELETE FROM {target} USING {stage} WHERE {on}")
            conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {stage} "
                         f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY rowid DESC) = 1")
        else:
            conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {stage}")
        conn.execute(f"DROP TABLE {stage}")
    state.save_cursor(conn, schema, job, summary.cursor)
    state.record_rejects(conn, schema, summary.load_id, job.qualified, rejected)
    state.record_load(conn, schema, {
        **record, "status": "loaded", "rows": summary.rows, "bytes": summary.bytes, "files": summary.files,
        "seconds": round(time.monotonic() - t0, 3), "rejects": summary.rejects,
        "fingerprint": summary.fingerprint, "columns": json.dumps(columns), "cursor": summary.cursor,
        "finished_at": state.utcnow(),
    })
    conn.execute("COMMIT")
    return True


def _exists(conn: Any, schema: str, table: str) -> bool:
    return conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?)",
        [schema, table],
    ).fetchone()[0] > 0


def _columns(conn: Any, relation: str) -> list[tuple[str, str]]:
    rows = conn.execute(f"DESCRIBE {relation}").fetchall()
    return [(r[0], r[1]) for r in rows if r[0] not in METADATA]


def _evolve(conn: Any, target: str, stage: str) -> None:
    """Give an appended-to table the batch's new columns and types (drift policy `evolve`)."""
    have = dict(_columns(conn, target))
    for name, typ in _columns(conn, stage):
        if name not in have:
            conn.execute(f"ALTER TABLE {target} ADD COLUMN {ident(name)} {typ}")
        elif have[name] != typ:
            conn.execute(f"ALTER TABLE {target} ALTER COLUMN {ident(name)} TYPE {typ}")


def _rejected(conn: Any, batch: Batch) -> list[dict[str, Any]]:
    table, scan = batch.rejects  # type: ignore[misc]
    rows = conn.execute(
        f"SELECT s.file_path, r.line, r.column_name, r.error_type::VARCHAR, r.error_message, r.csv_line "
        f"FROM {ident(table)} r JOIN {ident(scan)} s USING (scan_id, file_id) ORDER BY s.file_path, r.line"
    ).fetchall()
    return [{"file": r[0], "line": r[1], "column": r[2], "error_type": r[3], "error": clip(r[4] or "", 300),
             "csv_line": clip(r[5] or "", 300)} for r in rows]


def clip(text: str, width: int = 300, total: int = 3000) -> str:
    """Shorten each line to `width` and the whole text to `total` characters (a huge CSV line stays readable)."""
    lines = [line if len(line) <= width else line[:width] + f"... ({len(line)} chars)" for line in text.splitlines()]
    out = "\n".join(lines)
    return out if len(out) <= total else out[:total] + "..."


def fingerprint(columns: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """A short, order-independent hash of (name, type) pairs."""
    return hashlib.sha256(json.dumps(sorted(map(list, columns))).encode()).hexdigest()[:16]


def drift(before: Any, after: Any) -> dict[str, Any]:
    """Columns added, removed and retyped between two loads."""
    old, new = dict(before), dict(after)
    return {
        "added": [c for c in new if c not in old],
        "removed": [c for c in old if c not in new],
        "changed": [{"column": c, "from": old[c], "to": new[c]} for c in new if c in old and old[c] != new[c]],
    }


def describe_drift(d: dict[str, Any]) -> str:
    parts = [f"added {', '.join(d['added'])}" if d["added"] else "",
             f"removed {', '.join(d['removed'])}" if d["removed"] else "",
             ", ".join(f"{c['column']} {c['from']} -> {c['to']}" for c in d["changed"])]
    return "; ".join(p for p in parts if p)


def _rollback(conn: Any) -> None:
    try:
        conn.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - no transaction was open
        pass

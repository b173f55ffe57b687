"""The warehouse's memory of ingestion: `<state_schema>._loads` (one row per load), `._state`
(incremental cursors) and `._rejects` (CSV rows DuckDB could not parse), all plain DuckDB tables."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from adp.ingest.job import Job, JobState
from adp.ingest.sql import ident

LOAD_COLUMNS = (
    "load_id", "run_id", "source", "kind", "table_name", "status", "rows", "bytes", "seconds", "files",
    "rejects", "fingerprint", "columns", "token", "cursor", "error", "started_at", "finished_at",
)
_DDL = (
    """CREATE TABLE IF NOT EXISTS {s}._loads (
        load_id VARCHAR, run_id VARCHAR, source VARCHAR, kind VARCHAR, table_name VARCHAR, status VARCHAR,
        rows BIGINT, bytes BIGINT, seconds DOUBLE, files INTEGER, rejects BIGINT, fingerprint VARCHAR,
        columns VARCHAR, token VARCHAR, cursor VARCHAR, error VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS {s}._state (
        source VARCHAR, table_name VARCHAR, cursor_field VARCHAR, cursor_value VARCHAR, updated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS {s}._rejects (
        load_id VARCHAR, table_name VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR,
        error_type VARCHAR, error_message VARCHAR, csv_line VARCHAR)""",
)


def ensure_tables(conn: Any, schema: str) -> None:
    s = ident(schema)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
    for ddl in _DDL:
        conn.execute(ddl.format(s=s))


def read_state(conn: Any, schema: str, job: Job) -> JobState:
    """The job's table as of its last successful load (JobState() when never loaded).

    An `empty` load (no input) counts for staleness, so unchanged empty input is not retried every run.
    """
    s = ident(schema)
    row = conn.execute(
        f"SELECT token, epoch(finished_at) FROM {s}._loads WHERE table_name = ? AND source = ? "
        "AND status IN ('loaded', 'empty') ORDER BY finished_at DESC LIMIT 1",
        [job.qualified, job.source.name],
    ).fetchone()
    cols_row = conn.execute(
        f"SELECT columns FROM {s}._loads WHERE table_name = ? AND status = 'loaded' AND columns IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT 1",
        [job.qualified],
    ).fetchone()
    cursor = conn.execute(
        f"SELECT cursor_value FROM {s}._state WHERE source = ? AND table_name = ? AND cursor_field = ?",
        [job.source.name, job.qualified, job.cursor_field],
    ).fetchone() if job.cursor_field else None
    columns = tuple(tuple(c) for c in json.loads(cols_row[0])) if cols_row else None
    return JobState(
        token=row[0] if row else None,
        columns=columns,
        cursor=cursor[0] if cursor else None,
        loaded_at=float(row[1]) if row else None,
    )


def record_load(conn: Any, schema: str, record: dict[str, Any]) -> None:
    values = [record.get(c) for c in LOAD_COLUMNS]
    marks = ", ".join("?" for _ in LOAD_COLUMNS)
    conn.execute(f"INSERT INTO {ident(schema)}._loads ({', '.join(LOAD_COLUMNS)}) VALUES ({marks})", values)


def save_cursor(conn: Any, schema: str, job: Job, value: str | None) -> None:
    if value is None or not job.cursor_field:
        return
    s = ident(schema)
    conn.execute(f"DELETE FROM {s}._state WHERE source = ? AND table_name = ?", [job.source.name, job.qualified])
    conn.execute(
        f"INSERT INTO {s}._state VALUES (?, ?, ?, ?, ?)",
        [job.source.name, job.qualified, job.cursor_field, value, utcnow()],
    )


def record_rejects(conn: Any, schema: str, load_id: str, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.executemany(
            f"INSERT INTO {ident(schema)}._rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[load_id, table, r["file"], r["line"], r["column"], r["error_type"], r["error"], r["csv_line"]] for r in rows],
        )


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)

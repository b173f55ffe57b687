"""logs/history.duckdb: snapshots of good runs, dbt test statuses and the lineage, kept apart from the warehouse.

The history database is adp's own file, so dbt's single-writer lock on the warehouse is never contended.
Each connection is short-lived; a writer that finds the file locked by another adp process waits briefly.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import duckdb

HISTORY_NAME = "history.duckdb"
LOCK_WAIT_SECONDS = 30.0

_SCHEMA = """
create table if not exists runs (run_id varchar primary key, taken_at timestamp default current_timestamp);
create table if not exists relations (
    run_id varchar, unique_id varchar, resource_type varchar, relation varchar, kind varchar, row_count bigint,
    primary key (run_id, unique_id));
create table if not exists columns (
    run_id varchar, unique_id varchar, position integer, name varchar, data_type varchar,
    null_count bigint, min_value varchar, max_value varchar);
create table if not exists tests (run_id varchar, unique_id varchar, status varchar, failures bigint);
create table if not exists lineage (
    unique_id varchar primary key, name varchar, resource_type varchar, file varchar, parents varchar[]);
create table if not exists node_timings (
    run_id varchar, invocation_id varchar, unique_id varchar, status varchar, thread varchar,
    started_at timestamp, completed_at timestamp);
create table if not exists test_meta (
    unique_id varchar primary key, name varchar, test_type varchar, model varchar, column_name varchar);
"""
KEEP_TIMED_INVOCATIONS = 20  # dbt invocations whose per-node timing is kept


@dataclass(frozen=True)
class RelationRef:
    """A relation dbt manages or reads, as named in manifest.json."""

    unique_id: str
    resource_type: str  # model | seed | snapshot | source
    database: str | None
    schema: str
    identifier: str

    @property
    def name(self) -> str:
        return ".".join(p for p in (self.database, self.schema, self.identifier) if p)


@dataclass(frozen=True)
class ColumnProfile:
    """One column of a relation; the counts are None for views (counting a view re-runs it)."""

    name: str
    data_type: str
    null_count: int | None = None
    min_value: str | None = None  # numeric and date/time columns only, as text
    max_value: str | None = None


@dataclass(frozen=True)
class RelationProfile:
    """What a snapshot keeps of one relation."""

    unique_id: str
    resource_type: str
    relation: str  # database.schema.identifier
    kind: str  # "table" | "view"
    row_count: int | None = None  # None for views
    columns: list[ColumnProfile] = field(default_factory=list)

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class NodeSpan:
    """When one node of one dbt invocation ran (run_results.json `timing`: compile start to execute end)."""

    unique_id: str
    status: str
    thread: str | None
    started_at: datetime
    completed_at: datetime


@dataclass(frozen=True)
class DataTestMeta:
    """What a dbt test checks, from manifest.json: its test name, the model and the column it tests."""

    unique_id: str
    name: str
    test_type: str  # generic test name (unique, not_null, ...) or "singular"
    model: str | None  # unique_id of the node it is attached to
    column_name: str | None


@dataclass(frozen=True)
class LineageNode:
    """One node of the lineage graph: a model, seed, snapshot or source and its parents."""

    unique_id: str
    name: str
    resource_type: str
    file: str | None
    parents: list[str]


class HistoryDB:
    """Open with `with HistoryDB(log_dir) as db:`; read_only=True never creates the file."""

    def __init__(self, log_dir: Path, read_only: bool = False):
        self.path = Path(log_dir) / HISTORY_NAME
        self.read_only = read_only
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> "HistoryDB":
        if self.read_only and not self.path.is_file():
            self.con = duckdb.connect(":memory:")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = _connect(self.path, self.read_only)
        if not self.read_only or not self.path.is_file():
            self.con.execute(_SCHEMA)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        assert self.con is not None, "use HistoryDB as a context manager"
        return self.con.execute(sql, list(params)).fetchall()

    # -- snapshots ----------------------------------------------------------------------------------

    def save_snapshot(self, run_id: str, profiles: list[RelationProfile], tests: dict[str, tuple[str, int | None]]) -> None:
        """Store one good run (replacing an earlier snapshot under the same run_id)."""
        con = self.con
        assert con is not None
        con.execute("begin transaction")
        try:
            for table in ("runs", "relations", "columns", "tests"):
                con.execute(f"delete from {table} where run_id = ?", [run_id])
            con.execute("insert into runs (run_id) values (?)", [run_id])
            if profiles:
                _insert(con, "relations", [(run_id, p.unique_id, p.resource_type, p.relation, p.kind, p.row_count) for p in profiles])
            cols = [
                (run_id, p.unique_id, i, c.name, c.data_type, c.null_count, c.min_value, c.max_value)
                for p in profiles
                for i, c in enumerate(p.columns)
            ]
            if cols:
                _insert(con, "columns", cols)
            if tests:
                _insert(con, "tests", [(run_id, uid, s, f) for uid, (s, f) in tests.items()])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def prune(self, keep: int) -> int:
        """Drop all but the newest `keep` snapshots; returns how many were dropped."""
        old = [r[0] for r in self._rows("select run_id from runs order by taken_at desc, run_id desc offset ?", [max(keep, 1)])]
        for table in ("runs", "relations", "columns", "tests") if old else ():
            self._rows(f"delete from {table} where run_id in (select unnest(?::varchar[]))", [old])
        return len(old)

    def last_good_run(self) -> str | None:
        rows = self._rows("select run_id from runs order by taken_at desc, run_id desc limit 1")
        return rows[0][0] if rows else None

    def good_runs(self) -> list[str]:
        return [r[0] for r in self._rows("select run_id from runs order by taken_at, run_id")]

    def snapshot(self, run_id: str) -> dict[str, RelationProfile]:
        """unique_id -> RelationProfile of one stored run."""
        columns: dict[str, list[ColumnProfile]] = {}
        for uid, name, dtype, nulls, lo, hi in self._rows(
            "select unique_id, name, data_type, null_count, min_value, max_value from columns "
            "where run_id = ? order by unique_id, position",
            [run_id],
        ):
            columns.setdefault(uid, []).append(ColumnProfile(name, dtype, nulls, lo, hi))
        return {
            uid: RelationProfile(uid, rtype, rel, kind, rows, columns.get(uid, []))
            for uid, rtype, rel, kind, rows in self._rows(
                "select unique_id, resource_type, relation, kind, row_count from relations where run_id = ?", [run_id]
            )
        }

    def relation_columns(self, run_id: str, unique_id: str) -> list[str] | None:
        """The columns `unique_id` had in run `run_id`, in order; None when the run did not profile it."""
        if not self._rows("select 1 from relations where run_id = ? and unique_id = ?", [run_id, unique_id]):
            return None
        return [r[0] for r in self._rows(
            "select name from columns where run_id = ? and unique_id = ? order by position", [run_id, unique_id])]

    def test_statuses(self, run_id: str) -> dict[str, tuple[str, int | None]]:
        return {uid: (s, f) for uid, s, f in self._rows("select unique_id, status, failures from tests where run_id = ?", [run_id])}

    def row_counts(self, last_runs: int = 100, relations: int = 12) -> dict[str, list[tuple[str, int]]]:
        """relation -> [(run_id, rows)] over the last good runs, for the relations whose size moved most."""
        rows = self._rows(
            """
            with recent as (select run_id, taken_at from runs order by taken_at desc, run_id desc limit ?),
            counts as (
                select r.relation, r.run_id, t.taken_at, r.row_count from relations r join recent t using (run_id)
                where r.row_count is not null),
            picked as (
                select relation from counts group by relation
                order by (max(row_count) - min(row_count)) * 1.0 / greatest(max(row_count), 1) desc,
                         max(row_count) desc, relation
                limit ?)
            select relation, run_id, row_count from counts where relation in (select relation from picked)
            order by relation, taken_at, run_id
            """,
            [last_runs, relations],
        )
        out: dict[str, list[tuple[str, int]]] = {}
        for relation, run_id, count in rows:
            out.setdefault(relation, []).append((run_id, count))
        return out

    # -- lineage ------------------------------------------------------------------------------------

    def save_lineage(self, nodes: list[LineageNode]) -> None:
        """Replace the stored lineage with the latest manifest's."""
        con = self.con
        assert con is not None
        con.execute("begin transaction")
        try:
            con.execute("delete from lineage")
            if nodes:
                _insert(con, "lineage", [(n.unique_id, n.name, n.resource_type, n.file, n.parents) for n in nodes])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def lineage(self) -> list[LineageNode]:
        return [
            LineageNode(uid, name, rtype, file, list(parents or []))
            for uid, name, rtype, file, parents in self._rows(
                "select unique_id, name, resource_type, file, parents from lineage order by unique_id"
            )
        ]


    # -- node timings and test metadata (for the report) ---------------------------------------------

    def _has_table(self, table: str) -> bool:
        """False for a read-only file written by an older adp, before the table existed."""
        return bool(self._rows("select 1 from information_schema.tables where table_name = ?", [table]))

    def has_timings(self, invocation_id: str) -> bool:
        return self._has_table("node_timings") and bool(
            self._rows("select 1 from node_timings where invocation_id = ? limit 1", [invocation_id]))

    def save_timings(self, run_id: str, invocation_id: str, spans: list[NodeSpan]) -> None:
        """Store one invocation's node spans, keeping only the newest KEEP_TIMED_INVOCATIONS invocations."""
        con = self.con
        assert con is not None
        con.execute("begin transaction")
        try:
            con.execute("delete from node_timings where invocation_id = ?", [invocation_id])
            if spans:
                _insert(con, "node_timings", [(run_id, invocation_id, s.unique_id, s.status, s.thread, s.started_at,
                                               s.completed_at) for s in spans])
            con.execute(
                "delete from node_timings where invocation_id not in (select invocation_id from node_timings "
                "group by invocation_id order by max(completed_at) desc limit ?)", [KEEP_TIMED_INVOCATIONS])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def latest_timings(self, run_ids: list[str] | None = None) -> tuple[str, str, list[NodeSpan]] | None:
        """(run_id, invocation_id, spans ordered by start) of the newest stored invocation, among `run_ids`
        when given; None when nothing is stored."""
        if not self._has_table("node_timings"):
            return None
        where, params = ("where run_id in (select unnest(?::varchar[]))", [run_ids]) if run_ids is not None else ("", [])
        top = self._rows(f"select run_id, invocation_id from node_timings {where} group by run_id, invocation_id "
                         "order by max(completed_at) desc limit 1", params)
        if not top:
            return None
        run_id, invocation_id = top[0]
        spans = [NodeSpan(*r) for r in self._rows(
            "select unique_id, status, thread, started_at, completed_at from node_timings where invocation_id = ? "
            "order by started_at, unique_id", [invocation_id])]
        return run_id, invocation_id, spans

    def save_test_meta(self, metas: list[DataTestMeta]) -> None:
        """Add or replace what these tests check."""
        con = self.con
        assert con is not None
        if not metas:
            return
        con.execute("begin transaction")
        try:
            con.execute("delete from test_meta where unique_id in (select unnest(?::varchar[]))", [[m.unique_id for m in metas]])
            _insert(con, "test_meta", [(m.unique_id, m.name, m.test_type, m.model, m.column_name) for m in metas])
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def test_meta(self, unique_ids: list[str]) -> dict[str, DataTestMeta]:
        """unique_id -> DataTestMeta for the stored ones among `unique_ids`."""
        if not unique_ids or not self._has_table("test_meta"):
            return {}
        return {r[0]: DataTestMeta(*r) for r in self._rows(
            "select unique_id, name, test_type, model, column_name from test_meta "
            "where unique_id in (select unnest(?::varchar[]))", [unique_ids])}


def last_good_columns(log_dir: Path, unique_id: str) -> tuple[str, list[str]] | None:
    """The last good run and the columns `unique_id` had in it (read-only); None when no snapshot has it.

    >>> import tempfile; last_good_columns(Path(tempfile.mkdtemp()), "model.shop.stg_orders") is None
    True
    """
    if not (Path(log_dir) / HISTORY_NAME).is_file():
        return None
    try:
        with HistoryDB(log_dir, read_only=True) as db:
            run = db.last_good_run()
            columns = db.relation_columns(run, unique_id) if run else None
    except duckdb.Error:
        return None  # another adp process is rewriting it: diagnose without the history
    return (run, columns) if run and columns is not None else None


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect, waiting while another adp process holds the file (DuckDB allows one writer process)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Insert `rows` in one statement, one list parameter per column (DuckDB's executemany runs one
    statement per row: 5,000 rows took 11 s that way and 0.08 s this way; see docs/benchmarks.md P2)."""
    columns = [list(c) for c in zip(*rows)]
    select = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
    con.execute(f"insert into {table} select {select}", columns)

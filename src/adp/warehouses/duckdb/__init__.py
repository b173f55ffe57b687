"""DuckDB, the embedded default: the warehouse is one file, which dbt locks while it writes.

`messages` reads DuckDB's error texts into neutral facts; `queries` holds the pieces the operations
below are built from (the file, a read-only connection, the catalog, a relation's profile).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from adp.warehouses.base import Bound, ChainNode, Relation, Rows, Warehouse
from adp.warehouses.duckdb import messages, queries
from adp.warehouses.duckdb.queries import database_path

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef
    from adp.project import DbtProject

__all__ = ["DuckDB", "database_path"]


class DuckDB(Warehouse):
    """dbt-duckdb on a local file (in-memory and MotherDuck databases have no file to read)."""

    name = queries.NAME
    parse_error = staticmethod(messages.parse_error)
    function_names = staticmethod(queries.function_names)

    def lock_path(self, project: DbtProject) -> Path:
        """`<duckdb file>.adp.lock`, or the target dir's lock for in-memory/remote databases."""
        db = database_path(project)
        if db is not None:
            return db.with_name(db.name + ".adp.lock")
        return project.target_dir / ".adp.lock"

    def relation_columns(self, project: DbtProject, relation: str) -> list[str] | None:
        """From the file, read-only: None when it is absent, locked by another process, or has no such relation."""
        import duckdb

        parts = [p.strip('"') for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', relation)]
        con = queries.read_only_or_none(project) if parts else None
        if con is None:
            return None
        try:
            where = " and ".join(
                f"lower({col}) = lower(?)" for col in ("database_name", "schema_name", "table_name")[-len(parts) :]
            )
            rows = con.execute(
                f"select column_name from duckdb_columns() where {where} order by column_index", parts[-3:]
            ).fetchall()
        except duckdb.Error:
            return None
        finally:
            con.close()
        return [r[0] for r in rows] or None

    def bind_chain(self, project: DbtProject, nodes: list[ChainNode]) -> dict[str, Bound | str] | None:
        """Against a scratch catalog that shadows the file, attached read-only (see `scratch`)."""
        from adp.warehouses.duckdb import scratch  # sqlglot: only when a check runs

        return scratch.bind_chain(project, nodes)

    def sql_parses(self, sql: str) -> bool | None:
        """DuckDB's parser on an in-memory database (`json_serialize_sql`)."""
        import duckdb

        try:
            with duckdb.connect(":memory:") as con:
                row = con.execute("select json_serialize_sql(?::varchar)", [sql]).fetchone()
        except duckdb.Error:
            return None
        try:
            return not json.loads(row[0]).get("error", False)
        except (TypeError, ValueError):
            return None

    def bind(self, project: DbtProject, sqls: list[str]) -> list[Bound] | None:
        """`DESCRIBE <query>` on one read-only connection to the file, relative paths read from the project dir;
        None when the file cannot be opened."""
        con = queries.read_only_or_none(project)
        if con is None:
            return None
        try:
            # a source read with a relative path (`read_csv('data/x.csv')`) resolves from the project, as in dbt's run
            con.execute("set file_search_path = ?", [str(project.project_dir)])
            return [queries.describe_query(con, sql) for sql in sqls]
        finally:
            con.close()

    def sample_rows(self, project: DbtProject, sql: str, limit: int) -> Rows | None:
        """On a read-only connection to the file (relative paths read from the project dir); None when it
        cannot be opened or the query fails."""
        con = queries.read_only_or_none(project)
        if con is None:
            return None
        try:
            con.execute("set file_search_path = ?", [str(project.project_dir)])
            return queries.sample(con, sql, limit)
        finally:
            con.close()

    def column_types(self, project: DbtProject, relations: list[Relation]) -> dict[Relation, list[tuple[str, str]]]:
        """From the file, read-only; a missing database means the current one. AdpError when it is locked."""
        db = database_path(project)
        if db is None or not db.is_file() or not relations:
            return {}
        con = queries.read_only(db)
        try:
            current = con.execute("select current_database()").fetchone()[0].lower()
            wanted = {((d or current).lower(), s.lower(), n.lower()): (d, s, n) for d, s, n in relations}
            found: dict[Relation, list[tuple[str, str]]] = {}
            for dbname, schema, name, column, dtype in con.execute(queries.COLUMNS).fetchall():
                key = wanted.get((dbname.lower(), schema.lower(), name.lower()))
                if key is not None:
                    found.setdefault(key, []).append((column, dtype))
            return found
        finally:
            con.close()

    def profile_relations(self, project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
        """From the file, read-only; an in-memory or remote database gives []. AdpError when it is locked."""
        db = database_path(project)
        if db is None or not db.is_file() or not refs:
            return []
        con = queries.read_only(db)
        try:
            relations = queries.catalog(con)
            current = con.execute("select current_database()").fetchone()[0]
            profiles = []
            for ref in refs:
                key = ((ref.database or current).lower(), ref.schema.lower(), ref.identifier.lower())
                if key in relations:
                    kind, columns = relations[key]
                    profiles.append(queries.profile(con, ref, kind, columns))
            return profiles
        finally:
            con.close()

    def release_in_process_handles(self) -> None:
        """Close dbt-duckdb's cached database handle after an in-process dbt call (it keeps the file locked).

        dbt-duckdb keeps one environment per process (`keep_open` defaults to true); this is its private
        state, so any change in that library only costs the release, never the run.
        """
        try:
            from dbt.adapters.duckdb.connections import DuckDBConnectionManager  # dbt: heavy, loaded on use
        except ImportError:
            return
        with DuckDBConnectionManager._LOCK:
            env = DuckDBConnectionManager._ENV
            DuckDBConnectionManager._ENV = None
            if env is not None:
                try:
                    env.close()
                except Exception:  # already closed or a library change: the handle is dropped anyway
                    pass

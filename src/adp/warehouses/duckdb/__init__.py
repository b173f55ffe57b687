"""DuckDB, the embedded default: the warehouse is one file, which dbt locks while it writes.

`messages` reads DuckDB's error texts into neutral facts; `queries` reads the file (read-only), the
parser and the built-ins.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adp.warehouses.base import Relation, Warehouse
from adp.warehouses.duckdb import messages, queries
from adp.warehouses.duckdb.queries import database_path

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef
    from adp.project import DbtProject
    from adp.warehouses.facts import SqlFact

__all__ = ["DuckDB", "database_path"]


class DuckDB(Warehouse):
    """dbt-duckdb on a local file (in-memory and MotherDuck databases have no file to read)."""

    name = queries.NAME

    def lock_path(self, project: DbtProject) -> Path:
        """`<duckdb file>.adp.lock`, or the target dir's lock for in-memory/remote databases."""
        db = database_path(project)
        if db is not None:
            return db.with_name(db.name + ".adp.lock")
        return project.target_dir / ".adp.lock"

    def parse_error(self, text: str) -> SqlFact | None:
        return messages.parse_error(text)

    def function_names(self) -> list[str]:
        return queries.function_names()

    def relation_columns(self, project: DbtProject, relation: str) -> list[str] | None:
        return queries.relation_columns(project, relation)

    def sql_parses(self, sql: str) -> bool | None:
        return queries.sql_parses(sql)

    def column_types(self, project: DbtProject, relations: list[Relation]) -> dict[Relation, list[tuple[str, str]]]:
        return queries.column_types(project, relations)

    def profile_relations(self, project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
        return queries.profile_relations(project, refs)

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

"""Apache Spark through dbt-spark: a metastore and a warehouse dir of the project's, or a cluster.

`messages` reads Spark's error classes into the same neutral facts as DuckDB's (and knows which
failures are transient); `queries` reads relations and parses SQL on the session open in this process.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adp.warehouses.base import Relation, Warehouse
from adp.warehouses.spark import messages, queries

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef
    from adp.project import DbtProject
    from adp.warehouses.facts import SqlFact

__all__ = ["Spark"]


class Spark(Warehouse):
    """dbt-spark, `method: session` in this process or a Thrift/HTTP cluster (then only dbt reaches it)."""

    name = "spark"

    def lock_path(self, project: DbtProject) -> Path:
        """The target dir's lock: one adp writer per project (the metastore and warehouse dir are the project's)."""
        return project.target_dir / ".adp.lock"

    def parse_error(self, text: str) -> SqlFact | None:
        return messages.parse_error(text)

    def function_names(self) -> list[str]:
        return messages.function_names()

    def relation_columns(self, project: DbtProject, relation: str) -> list[str] | None:
        return queries.relation_columns(project, relation)

    def sql_parses(self, sql: str) -> bool | None:
        return queries.sql_parses(sql)

    def column_types(self, project: DbtProject, relations: list[Relation]) -> dict[Relation, list[tuple[str, str]]]:
        return queries.column_types(project, relations)

    def profile_relations(self, project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
        return queries.profile_relations(project, refs)

    # release_in_process_handles: the default (nothing); the session stays warm for the next dbt call.

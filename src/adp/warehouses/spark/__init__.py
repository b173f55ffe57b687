"""Apache Spark through dbt-spark: a metastore and a warehouse dir of the project's, or a cluster.

`messages` reads Spark's error classes into the same neutral facts as DuckDB's (and knows which
failures are transient); `queries` holds the pieces the operations below are built from (this
process's session, quoting, `describe table`, a relation's profile).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adp.warehouses.base import Bound, Relation, Rows, Warehouse
from adp.warehouses.spark import messages, queries

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef
    from adp.project import DbtProject

__all__ = ["Spark"]


class Spark(Warehouse):
    """dbt-spark, `method: session` in this process or a Thrift/HTTP cluster (then only dbt reaches it)."""

    name = "spark"
    parse_error = staticmethod(messages.parse_error)
    function_names = staticmethod(messages.function_names)

    def lock_path(self, project: DbtProject) -> Path:
        """The target dir's lock: one adp writer per project (the metastore and warehouse dir are the project's)."""
        return project.target_dir / ".adp.lock"

    def relation_columns(self, project: DbtProject, relation: str) -> list[str] | None:
        """From the open session (`describe table schema.name`), else None."""
        spark = queries.session()
        if spark is None or not relation:
            return None
        columns = queries.describe(spark, queries.split_relation(relation)[-2:])
        return [c for c, _ in columns] if columns else None

    def sql_parses(self, sql: str) -> bool | None:
        """Spark's own SQL parser on the open session; None without one."""
        spark = queries.session()
        if spark is None:
            return None
        try:
            spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
        except Exception as exc:  # noqa: BLE001 - py4j wraps Spark's ParseException
            return False if "PARSE_SYNTAX_ERROR" in str(exc) or "ParseException" in str(exc) else None
        return True

    def bind(self, project: DbtProject, sqls: list[str]) -> list[Bound] | None:
        """`DESCRIBE QUERY` on the open session (Spark's EXPLAIN returns analysis errors as rows); None without one."""
        spark = queries.session()
        if spark is None:
            return None
        return [queries.describe_query(spark, sql) for sql in sqls]

    def sample_rows(self, project: DbtProject, sql: str, limit: int) -> Rows | None:
        """On the open session, `sql` as a subquery of a SELECT, so only a query runs (a session is never
        read-only); None without a session, or when Spark refuses it."""
        spark = queries.session()
        if spark is None:
            return None
        return queries.sample(spark, sql, limit)

    def column_types(self, project: DbtProject, relations: list[Relation]) -> dict[Relation, list[tuple[str, str]]]:
        """From the open session ({} without one); the database part is not used."""
        spark = queries.session()
        if spark is None:
            return {}
        found = {}
        for key in relations:
            columns = queries.describe(spark, [key[1], key[2]])
            if columns:
                found[key] = columns
        return found

    def profile_relations(self, project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
        """On the open session; [] without one (see `queries`)."""
        spark = queries.session()
        if spark is None or not refs:
            return []
        profiles = []
        for ref in refs:
            columns = queries.describe(spark, [ref.schema, ref.identifier])
            if columns is not None:
                profiles.append(queries.profile(spark, ref, columns))
        return profiles

    # release_in_process_handles: the default (nothing); the session stays warm for the next dbt call.

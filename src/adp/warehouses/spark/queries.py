"""What adp reads from Spark: relation columns and profiles, and the parser, on this process's session.

The queries run on the Spark session already open in this process, i.e. the one the in-process
engine's dbt-spark `method: session` started. adp never starts a second Spark itself: an embedded
Derby metastore admits one process, and a cluster (`method: thrift`/`http`) is reached by dbt only.
Without an open session these functions return nothing and the core falls back to the manifest, the
compiled SQL and the column list in Spark's own error message. pyspark is imported inside `_session`
only: it is large, and optional.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from adp.project import DbtProject

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef

_RANGE_TYPES = frozenset(
    "tinyint smallint int bigint float double decimal date timestamp timestamp_ntz byte short integer long real".split()
)


def _session() -> Any:
    """This process's running SparkSession, or None (never starts one)."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    if SparkContext._active_spark_context is None:
        return None
    return SparkSession.builder.getOrCreate()


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _parts(relation: str) -> list[str]:
    """`a`.`b` / "a"."b" / a.b -> ["a", "b"]."""
    return [p.strip('`"') for p in re.findall(r"`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"|[^.]+", relation)]


def _describe(spark: Any, parts: list[str]) -> list[tuple[str, str]] | None:
    try:
        rows = spark.sql(f"describe table {'.'.join(_quote(p) for p in parts)}").collect()
    except Exception:  # noqa: BLE001 - a relation that does not exist (or a dropped session) has no columns
        return None
    columns = []
    for row in rows:
        name = row[0]
        if not name or name.startswith("#"):  # partition and detail sections follow the columns
            break
        columns.append((name, row[1]))
    return columns


def relation_columns(project: DbtProject, relation: str) -> list[str] | None:
    """Column names of `relation` (schema.name, quoted or not) from the open Spark session, else None."""
    spark = _session()
    if spark is None or not relation:
        return None
    columns = _describe(spark, _parts(relation)[-2:])
    return [c for c, _ in columns] if columns else None


def column_types(
    project: DbtProject, relations: list[tuple[str | None, str, str]]
) -> dict[tuple[str | None, str, str], list[tuple[str, str]]]:
    """(database, schema, name) -> [(column, type)] from the open Spark session ({} without one)."""
    spark = _session()
    if spark is None:
        return {}
    found = {}
    for key in relations:
        columns = _describe(spark, [key[1], key[2]])
        if columns:
            found[key] = columns
    return found


def profile_relations(project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
    """Columns and types of each relation that exists; for tables also rows, nulls and min/max.

    Uses the open Spark session; returns [] when there is none (see the module docstring).
    """
    spark = _session()
    if spark is None or not refs:
        return []
    from adp.history_db import ColumnProfile, RelationProfile

    profiles = []
    for ref in refs:
        parts = [ref.schema, ref.identifier]
        columns = _describe(spark, parts)
        if columns is None:
            continue
        table = ".".join(_quote(p) for p in parts)
        try:
            kind = "view" if spark.catalog.getTable(".".join(parts)).tableType == "VIEW" else "table"
        except Exception:  # noqa: BLE001 - a temporary view or a catalog without the lookup
            kind = "table"
        if kind == "view":
            profiles.append(RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, None,
                                            [ColumnProfile(n, t) for n, t in columns]))
            continue
        exprs = ["count(*)"]
        for name, dtype in columns:
            col = _quote(name)
            ranged = dtype.lower().split("(")[0] in _RANGE_TYPES
            exprs += [f"count({col})", f"cast(min({col}) as string)" if ranged else "null",
                      f"cast(max({col}) as string)" if ranged else "null"]
        row = spark.sql(f"select {', '.join(exprs)} from {table}").collect()[0]
        rows = int(row[0])
        cols = [ColumnProfile(n, t, rows - int(row[1 + 3 * i]), row[2 + 3 * i], row[3 + 3 * i])
                for i, (n, t) in enumerate(columns)]
        profiles.append(RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, rows, cols))
    return profiles


def sql_parses(sql: str) -> bool | None:
    """True when Spark's parser accepts `sql` (names are not bound); None without an open session."""
    spark = _session()
    if spark is None:
        return None
    try:
        spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    except Exception as exc:  # noqa: BLE001 - py4j wraps Spark's ParseException
        return False if "PARSE_SYNTAX_ERROR" in str(exc) or "ParseException" in str(exc) else None
    return True

"""The pieces of Spark's queries: this process's session, quoting, a relation's columns and profile.

The queries run on the Spark session already open in this process, i.e. the one the in-process
engine's dbt-spark `method: session` started. adp never starts a second Spark itself: an embedded
Derby metastore admits one process, and a cluster (`method: thrift`/`http`) is reached by dbt only.
Without an open session these functions return nothing and the core falls back to the manifest, the
compiled SQL and the column list in Spark's own error message. pyspark is imported inside `session`
only: it is large, and optional.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from adp.warehouses import profiles
from adp.warehouses.base import Bound, Rows, sample_query
from adp.warehouses.profiles import Columns

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef

RANGE_TYPES = frozenset(
    "tinyint smallint int bigint float double decimal date timestamp timestamp_ntz byte short integer long real".split()
)


def session() -> Any:
    """This process's running SparkSession, or None (never starts one)."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    if SparkContext._active_spark_context is None:
        return None
    return SparkSession.builder.getOrCreate()


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def split_relation(relation: str) -> list[str]:
    """`a`.`b` / "a"."b" / a.b -> ["a", "b"]."""
    return [p.strip('`"') for p in re.findall(r"`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"|[^.]+", relation)]


def describe_query(spark: Any, sql: str) -> Bound:
    """Analyse `sql` without running it; an AnalysisException (unresolved name, GROUP BY, ...) is the verdict."""
    try:
        rows = spark.sql("describe query " + sql.strip().rstrip(";")).collect()
    except Exception as exc:  # noqa: BLE001 - py4j wraps Spark's AnalysisException / ParseException
        return Bound(False, error=str(exc))
    return Bound(True, columns=tuple(r[0] for r in rows))


def sample(spark: Any, sql: str, limit: int) -> Rows | None:
    """The first `limit` rows of `sql`, which must be one query: wrapped as a subquery, no other statement parses."""
    if ";" in sql.strip().rstrip(";"):
        return None  # a second statement (or a literal semicolon): not worth the risk on a writable session
    try:
        df = spark.sql(sample_query(sql, limit))
        return Rows.of(df.columns, [tuple(r) for r in df.collect()])
    except Exception:  # noqa: BLE001 - py4j wraps Spark's AnalysisException; no sample then
        return None


def describe(spark: Any, parts: list[str]) -> Columns | None:
    try:
        rows = spark.sql(f"describe table {'.'.join(quote(p) for p in parts)}").collect()
    except Exception:  # noqa: BLE001 - a relation that does not exist (or a dropped session) has no columns
        return None
    columns = []
    for row in rows:
        name = row[0]
        if not name or name.startswith("#"):  # partition and detail sections follow the columns
            break
        columns.append((name, row[1]))
    return columns


def profile(spark: Any, ref: RelationRef, columns: Columns) -> RelationProfile:
    """Rows, and per column nulls and min/max (for ranged types), of one table; columns only for a view."""
    parts = [ref.schema, ref.identifier]
    try:
        kind = "view" if spark.catalog.getTable(".".join(parts)).tableType == "VIEW" else "table"
    except Exception:  # noqa: BLE001 - a temporary view or a catalog without the lookup
        kind = "table"
    if kind == "view":
        return profiles.from_row(ref, kind, columns, None)
    table = ".".join(quote(p) for p in parts)
    exprs = profiles.select_list(columns, quote, lambda t: t.lower().split("(")[0] in RANGE_TYPES,
                                 lambda e: f"cast({e} as string)")
    return profiles.from_row(ref, kind, columns, spark.sql(f"select {exprs} from {table}").collect()[0])

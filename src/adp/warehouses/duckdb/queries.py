"""The pieces of DuckDB's queries: where the file is, a read-only connection, the catalog, a profile.

Every connection to the warehouse file is read-only, so it never takes dbt's writer lock. `duckdb` is
imported inside the functions (as `adp.history_db`, which imports it): `adp.warehouses` is imported
by every command, and most never open a database.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from adp.errors import AdpError
from adp.project import DbtProject
from adp.warehouses import profiles
from adp.warehouses.base import Bound, Rows, sample_query
from adp.warehouses.profiles import Columns

if TYPE_CHECKING:
    import duckdb

    from adp.history_db import RelationProfile, RelationRef

NAME = "duckdb"


def database_path(project: DbtProject) -> Path | None:
    """The DuckDB file of the selected profile output, resolved like dbt does from the project dir.

    None for another engine's output, an in-memory database or MotherDuck.
    """
    out = project.output()
    if out.get("type") != NAME:
        return None
    path = out.get("path") or ":memory:"
    if path == ":memory:" or str(path).startswith(("md:", "motherduck:")):
        return None
    return project.resolve(path)


COLUMNS = (
    "select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() "
    "where not internal order by database_name, schema_name, table_name, column_index"
)


def read_only(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse file; AdpError when another process holds it."""
    import duckdb

    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise AdpError(f"cannot read the warehouse `{db}` (is another process writing it?): {exc}") from exc


def read_only_or_none(project: DbtProject) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the project's warehouse file; None when there is none or it cannot be opened."""
    import duckdb

    db = database_path(project)
    if db is None or not db.is_file():
        return None
    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return None


def describe_query(con: duckdb.DuckDBPyConnection, sql: str) -> Bound:
    """Bind `sql` (a SELECT, as dbt compiled it) with DuckDB's binder: `DESCRIBE` plans it, runs nothing."""
    import duckdb

    body = sql.strip().rstrip(";").strip()
    try:
        rows = con.execute(f"describe {body}\n").fetchall()
    except duckdb.Error as exc:
        return Bound(False, error=str(exc))
    return Bound(True, columns=tuple(r[0] for r in rows))


def sample(con: duckdb.DuckDBPyConnection, sql: str, limit: int) -> Rows | None:
    """The first `limit` rows of `sql`; None when DuckDB refuses it (a read-only connection writes nothing)."""
    import duckdb

    try:
        cur = con.execute(sample_query(sql, limit))
        rows = cur.fetchall()
    except duckdb.Error:
        return None
    return Rows.of([d[0] for d in cur.description or ()], rows)


RANGE_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT FLOAT DOUBLE "
    "DECIMAL DATE TIME TIMESTAMP TIMESTAMP_S TIMESTAMP_MS TIMESTAMP_NS".split()
)  # base types (before "(" or " WITH TIME ZONE") whose min/max a snapshot keeps


def catalog(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], tuple[str, Columns]]:
    """(database, schema, name) lowercased -> (kind, [(column, type)]) for every table and view."""
    found: dict[tuple[str, str, str], tuple[str, Columns]] = {}
    for dbname, schema, name, kind in con.execute(
        "select database_name, schema_name, table_name, 'table' from duckdb_tables() where not internal "
        "union all select database_name, schema_name, view_name, 'view' from duckdb_views() where not internal"
    ).fetchall():
        found[(dbname.lower(), schema.lower(), name.lower())] = (kind, [])
    for dbname, schema, name, column, dtype in con.execute(COLUMNS).fetchall():
        entry = found.get((dbname.lower(), schema.lower(), name.lower()))
        if entry is not None:
            entry[1].append((column, dtype))
    return found


def profile(con: duckdb.DuckDBPyConnection, ref: RelationRef, kind: str, columns: Columns) -> RelationProfile:
    """Rows, and per column nulls and min/max (for ranged types), of one table; columns only for a view."""
    if kind == "view":
        return profiles.from_row(ref, kind, columns, None)
    table = ".".join(quote(p) for p in (ref.database, ref.schema, ref.identifier) if p)
    exprs = profiles.select_list(columns, quote, _ranged, lambda e: f"{e}::varchar")
    return profiles.from_row(ref, kind, columns, con.execute(f"select {exprs} from {table}").fetchone())


def _ranged(dtype: str) -> bool:
    return dtype.upper().split("(")[0].removesuffix(" WITH TIME ZONE").strip() in RANGE_TYPES


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# Called like functions but handled by DuckDB's parser, so absent from duckdb_functions().
PARSER_FORMS = ("coalesce", "ifnull", "cast", "try_cast", "extract")


@functools.lru_cache(maxsize=1)
def function_names() -> list[str]:
    """DuckDB's built-in function and macro names (its own `Did you mean` hint is often unrelated)."""
    import duckdb

    with duckdb.connect(":memory:") as con:
        names = [r[0] for r in con.execute("select distinct function_name from duckdb_functions()").fetchall()]
    return sorted({*names, *PARSER_FORMS})

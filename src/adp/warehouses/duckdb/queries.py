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


RANGE_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT FLOAT DOUBLE "
    "DECIMAL DATE TIME TIMESTAMP TIMESTAMP_S TIMESTAMP_MS TIMESTAMP_NS".split()
)  # base types (before "(" or " WITH TIME ZONE") whose min/max a snapshot keeps


def catalog(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], tuple[str, list[tuple[str, str]]]]:
    """(database, schema, name) lowercased -> (kind, [(column, type)]) for every table and view."""
    found: dict[tuple[str, str, str], tuple[str, list[tuple[str, str]]]] = {}
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


def profile(con: duckdb.DuckDBPyConnection, ref: RelationRef, kind: str, columns: list[tuple[str, str]]) -> RelationProfile:
    """Rows, and per column nulls and min/max (for ranged types), of one table; columns only for a view."""
    from adp.history_db import ColumnProfile, RelationProfile

    if kind == "view":
        return RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, None,
                               [ColumnProfile(name, dtype) for name, dtype in columns])
    exprs = ["count(*)"]
    for name, dtype in columns:
        col = quote(name)
        ranged = dtype.upper().split("(")[0].removesuffix(" WITH TIME ZONE").strip() in RANGE_TYPES
        exprs += [f"count({col})", f"min({col})::varchar" if ranged else "null", f"max({col})::varchar" if ranged else "null"]
    table = ".".join(quote(p) for p in (ref.database, ref.schema, ref.identifier) if p)
    row = con.execute(f"select {', '.join(exprs)} from {table}").fetchone()
    rows = int(row[0])
    cols = [
        ColumnProfile(name, dtype, rows - int(row[1 + 3 * i]), row[2 + 3 * i], row[3 + 3 * i])
        for i, (name, dtype) in enumerate(columns)
    ]
    return RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, rows, cols)


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

"""What adp reads from DuckDB: the warehouse file, relation columns and profiles, the parser, built-ins.

Every connection to the warehouse file is read-only, so it never takes dbt's writer lock. `duckdb` is
imported inside the functions (as `adp.history_db`, which imports it): `adp.warehouses` is imported
by every command, and most never open a database.
"""
from __future__ import annotations

import functools
import json
import re
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


_COLUMNS = (
    "select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() "
    "where not internal order by database_name, schema_name, table_name, column_index"
)


def _read_only(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse file; AdpError when another process holds it."""
    import duckdb

    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise AdpError(f"cannot read the warehouse `{db}` (is another process writing it?): {exc}") from exc


# -- validation: relation profiles (read-only; called after dbt has exited) --------------------------

_RANGE_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT FLOAT DOUBLE "
    "DECIMAL DATE TIME TIMESTAMP TIMESTAMP_S TIMESTAMP_MS TIMESTAMP_NS".split()
)  # base types (before "(" or " WITH TIME ZONE") whose min/max a snapshot keeps


def profile_relations(project: DbtProject, refs: list[RelationRef]) -> list[RelationProfile]:
    """Columns and types of each relation that exists; for tables also rows, nulls and min/max.

    Opens the warehouse file read-only, so it never takes dbt's writer lock. Relations that do not
    exist are left out; an in-memory or remote database gives an empty list.
    """
    db = database_path(project)
    if db is None or not db.is_file() or not refs:
        return []
    con = _read_only(db)
    try:
        catalog = _catalog(con)
        current_db = con.execute("select current_database()").fetchone()[0]
        profiles = []
        for ref in refs:
            key = ((ref.database or current_db).lower(), ref.schema.lower(), ref.identifier.lower())
            if key in catalog:
                kind, columns = catalog[key]
                profiles.append(_profile(con, ref, kind, columns))
        return profiles
    finally:
        con.close()


def _catalog(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], tuple[str, list[tuple[str, str]]]]:
    """(database, schema, name) lowercased -> (kind, [(column, type)]) for every table and view."""
    catalog: dict[tuple[str, str, str], tuple[str, list[tuple[str, str]]]] = {}
    for dbname, schema, name, kind in con.execute(
        "select database_name, schema_name, table_name, 'table' from duckdb_tables() where not internal "
        "union all select database_name, schema_name, view_name, 'view' from duckdb_views() where not internal"
    ).fetchall():
        catalog[(dbname.lower(), schema.lower(), name.lower())] = (kind, [])
    for dbname, schema, name, column, dtype in con.execute(_COLUMNS).fetchall():
        entry = catalog.get((dbname.lower(), schema.lower(), name.lower()))
        if entry is not None:
            entry[1].append((column, dtype))
    return catalog


def _profile(con: duckdb.DuckDBPyConnection, ref: RelationRef, kind: str, columns: list[tuple[str, str]]) -> RelationProfile:
    from adp.history_db import ColumnProfile, RelationProfile

    if kind == "view":
        return RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, None,
                               [ColumnProfile(name, dtype) for name, dtype in columns])
    exprs = ["count(*)"]
    for name, dtype in columns:
        col = _quote(name)
        ranged = dtype.upper().split("(")[0].removesuffix(" WITH TIME ZONE").strip() in _RANGE_TYPES
        exprs += [f"count({col})", f"min({col})::varchar" if ranged else "null", f"max({col})::varchar" if ranged else "null"]
    table = ".".join(_quote(p) for p in (ref.database, ref.schema, ref.identifier) if p)
    row = con.execute(f"select {', '.join(exprs)} from {table}").fetchone()
    rows = int(row[0])
    cols = [
        ColumnProfile(name, dtype, rows - int(row[1 + 3 * i]), row[2 + 3 * i], row[3 + 3 * i])
        for i, (name, dtype) in enumerate(columns)
    ]
    return RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, rows, cols)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# -- inspect: the actual columns of upstream relations (read-only; for the diagnostician and the agent) --


def column_types(
    project: DbtProject, relations: list[tuple[str | None, str, str]]
) -> dict[tuple[str | None, str, str], list[tuple[str, str]]]:
    """(database, schema, name) -> [(column, type)] for each relation that exists, read-only.

    Matching is case-insensitive; a missing database means the current one. Returns {} for an
    in-memory/remote database or a file that does not exist yet; raises AdpError when it is locked.
    """
    db = database_path(project)
    if db is None or not db.is_file() or not relations:
        return {}
    con = _read_only(db)
    try:
        current = con.execute("select current_database()").fetchone()[0].lower()
        wanted = {((d or current).lower(), s.lower(), n.lower()): (d, s, n) for d, s, n in relations}
        found: dict[tuple[str | None, str, str], list[tuple[str, str]]] = {}
        for dbname, schema, name, column, dtype in con.execute(_COLUMNS).fetchall():
            key = wanted.get((dbname.lower(), schema.lower(), name.lower()))
            if key is not None:
                found.setdefault(key, []).append((column, dtype))
        return found
    finally:
        con.close()


def relation_columns(project: DbtProject, relation: str) -> list[str] | None:
    """Column names of `relation` ("db"."schema"."name") read from the DuckDB file, read-only.

    None when the file is absent, locked by another process, or has no such relation: callers
    fall back to the manifest and compiled SQL.
    """
    import duckdb

    db = database_path(project)
    if db is None or not db.is_file():
        return None
    parts = [p.strip('"') for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', relation)]
    if not parts:
        return None
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
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


# -- diagnosis and fixes: built-in names, and does a repaired SQL text parse? (no catalog, no file) ----

# Called like functions but handled by DuckDB's parser, so absent from duckdb_functions().
_PARSER_FORMS = ("coalesce", "ifnull", "cast", "try_cast", "extract")


@functools.lru_cache(maxsize=1)
def function_names() -> list[str]:
    """DuckDB's built-in function and macro names (its own `Did you mean` hint is often unrelated)."""
    import duckdb

    with duckdb.connect(":memory:") as con:
        names = [r[0] for r in con.execute("select distinct function_name from duckdb_functions()").fetchall()]
    return sorted({*names, *_PARSER_FORMS})


def sql_parses(sql: str) -> bool | None:
    """True when DuckDB's parser accepts `sql` (names are not bound), None when it cannot be checked."""
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

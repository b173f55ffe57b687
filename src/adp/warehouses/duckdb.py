"""DuckDB: where the warehouse file is, which failures are transient, how to read relation columns."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from adp.project import DbtProject

if TYPE_CHECKING:
    import duckdb

    from adp.history_db import RelationProfile, RelationRef

NAME = "duckdb"


def database_path(project: DbtProject) -> Path | None:
    """The DuckDB file of the selected profile output, resolved like dbt does from the project dir."""
    out = project.output()
    if out.get("type") != NAME:
        return None
    path = out.get("path") or ":memory:"
    if path == ":memory:" or str(path).startswith(("md:", "motherduck:")):
        return None
    return project.resolve(path)


def lock_path(project: DbtProject) -> Path:
    """`<duckdb file>.adp.lock`, or the target dir's lock for in-memory/remote databases."""
    db = database_path(project)
    if db is not None:
        return db.with_name(db.name + ".adp.lock")
    return project.target_dir / ".adp.lock"


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
    import duckdb

    from adp.errors import AdpError

    db = database_path(project)
    if db is None or not db.is_file() or not refs:
        return []
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise AdpError(f"cannot read the warehouse `{db}` (is another process writing it?): {exc}") from exc
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
    for dbname, schema, name, column, dtype in con.execute(
        "select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() "
        "where not internal order by database_name, schema_name, table_name, column_index"
    ).fetchall():
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
    import duckdb

    from adp.errors import AdpError

    db = database_path(project)
    if db is None or not db.is_file() or not relations:
        return {}
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise AdpError(f"cannot read the warehouse `{db}` (is another process writing it?): {exc}") from exc
    try:
        current = con.execute("select current_database()").fetchone()[0].lower()
        wanted = {((d or current).lower(), s.lower(), n.lower()): (d, s, n) for d, s, n in relations}
        found: dict[tuple[str | None, str, str], list[tuple[str, str]]] = {}
        for dbname, schema, name, column, dtype in con.execute(
            "select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where not internal order by database_name, schema_name, table_name, column_index"
        ).fetchall():
            key = wanted.get((dbname.lower(), schema.lower(), name.lower()))
            if key is not None:
                found.setdefault(key, []).append((column, dtype))
        return found
    finally:
        con.close()


def release_in_process_handles() -> None:
    """Close dbt-duckdb's cached database handle after an in-process dbt call (it keeps the file locked).

    dbt-duckdb keeps one environment per process (`keep_open` defaults to true); this is its private
    state, so any change in that library only costs the release, never the run.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
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


# -- diagnosis: DuckDB messages -> neutral facts, relation columns (adp.diagnose) ----------------------
from adp.warehouses.duckdb_messages import parse_error, relation_columns  # noqa: E402,F401


# Called like functions but handled by DuckDB's parser, so absent from duckdb_functions().
_PARSER_FORMS = ("coalesce", "ifnull", "cast", "try_cast", "extract")


@functools.lru_cache(maxsize=1)
def function_names() -> list[str]:
    """DuckDB's built-in function and macro names (its own `Did you mean` hint is often unrelated)."""
    import duckdb

    with duckdb.connect(":memory:") as con:
        names = [r[0] for r in con.execute("select distinct function_name from duckdb_functions()").fetchall()]
    return sorted({*names, *_PARSER_FORMS})


# -- fixes: does a repaired SQL text parse? (adp.fixes; parser only, no catalog, no database) --------
def sql_parses(sql: str) -> bool | None:
    """True when DuckDB's parser accepts `sql` (names are not bound), None when it cannot be checked."""
    import json

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

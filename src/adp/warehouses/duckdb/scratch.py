"""The pre-flight check on DuckDB: bind a chain of compiled models against a scratch catalog, never the file.

The compiled SQL names `"<db>"."<schema>"."<name>"`, and nothing can be created inside a read-only
attachment, so the warehouse file is attached read-only under another alias and an in-memory catalog
named `<db>` shadows it: each relation a checked node reads is a view there, over the real relation
(unchanged parents) or over the checked node's own SQL (its stand-in). Views bind when created and
`DESCRIBE` binds a query without running it, so no data is read and nothing reaches the file.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from adp.warehouses.base import Bound, ChainNode
from adp.warehouses.duckdb import queries

if TYPE_CHECKING:
    import duckdb

    from adp.project import DbtProject

REAL = "__adp_warehouse"  # the alias the warehouse file is attached under, read-only


def bind_chain(project: DbtProject, nodes: list[ChainNode]) -> dict[str, Bound | str] | None:
    """Per unique_id its Bound, or why it was not checked; None when the file is absent or held by a writer."""
    import duckdb

    db = queries.database_path(project)
    if db is None or not db.is_file():
        return None
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_literal(str(db))} as {REAL} (read_only)")
    except duckdb.Error:
        con.close()
        return None
    try:
        con.execute(f"set file_search_path = {_literal(str(project.project_dir))}")
        return _Chain(con).bind(nodes)
    finally:
        con.close()


class _Chain:
    """The scratch catalog of one check: which names it shadows so far and which relations failed."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.real = {tuple(map(str.lower, r)) for r in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = ? union all "
            "select schema_name, view_name from duckdb_views() where database_name = ? and not internal",
            [REAL, REAL]).fetchall()}
        self.catalogs = {r[0].lower() for r in con.execute("select database_name from duckdb_databases()").fetchall()}
        self.shadowed: set[str] = set()
        self.failed: dict[str, str] = {}  # relation -> why

    def bind(self, nodes: list[ChainNode]) -> dict[str, Bound | str]:
        out: dict[str, Bound | str] = {}
        own = {n.relation.lower() for n in nodes if n.relation}
        for n in nodes:
            why = next((f"not checked: its parent {p} {self.failed[p.lower()]}" for p in n.parents if p.lower() in self.failed), None)
            if why is None:
                why = next((f"not checked: its parent {p} is not in the warehouse yet" for p in n.parents
                            if p.lower() not in own and not self._shadow_real(p)), None)
            if why is not None:
                out[n.unique_id] = why
                self._fail(n, "was not checked")
                continue
            if n.relation:
                self._shadow_real(n.relation)  # what `{{ this }}` reads (an incremental model), when it exists
            bound = _describe(self.con, n.sql)
            out[n.unique_id] = bound
            if not bound.ok:
                self._fail(n, "fails the check")
            elif n.relation and not self._stand_in(n):
                self._fail(n, "cannot stand in for the build")
        return out

    def _fail(self, n: ChainNode, why: str) -> None:
        if n.relation:
            self.failed[n.relation.lower()] = why

    def _parts(self, relation: str) -> tuple[str, str, str] | None:
        if "(" in relation:
            return None
        try:
            t = exp.to_table(relation, dialect="duckdb")
        except Exception:  # noqa: BLE001 - sqlglot raises several kinds on a name it cannot read
            return None
        return (t.catalog, t.db, t.name) if t.catalog and t.db and t.name else None

    def _schema(self, catalog: str, schema: str) -> None:
        if catalog.lower() not in self.catalogs:
            self.con.execute(f"attach ':memory:' as {queries.quote(catalog)}")
            self.catalogs.add(catalog.lower())
        self.con.execute(f"create schema if not exists {queries.quote(catalog)}.{queries.quote(schema)}")

    def _shadow_real(self, relation: str) -> bool:
        """Make `relation` a view over the real one; False when the warehouse has no such relation."""
        if relation.lower() in self.shadowed:
            return True
        parts = self._parts(relation)
        if parts is None:
            return True  # not a catalog name (a source's `read_csv(...)`): the SQL reads it itself
        if (parts[1].lower(), parts[2].lower()) not in self.real:
            return False
        import duckdb

        catalog, schema, name = parts
        self._schema(catalog, schema)
        try:
            self.con.execute(f"create or replace view {_name(parts)} as select * from {REAL}.{queries.quote(schema)}.{queries.quote(name)}")
        except duckdb.Error:  # a view of the warehouse that no longer binds (the file a source reads changed)
            return False
        self.shadowed.add(relation.lower())
        return True

    def _stand_in(self, n: ChainNode) -> bool:
        """The checked node's relation as an empty in-memory table with the columns and types its SQL binds to
        (a table, not a view: an incremental model's SQL reads its own relation)."""
        import duckdb

        parts = self._parts(n.relation or "")
        if parts is None:
            return False
        self._schema(parts[0], parts[1])
        try:
            columns = self.con.execute(f"describe select * from (\n{n.sql.rstrip()}\n)").fetchall()
            self.con.execute(f"drop view if exists {_name(parts)}")
            body = ", ".join(f"{queries.quote(c[0])} {c[1]}" for c in columns)
            self.con.execute(f"create or replace table {_name(parts)} ({body})")
        except duckdb.Error:
            return False
        self.shadowed.add((n.relation or "").lower())
        return True


def _describe(con: duckdb.DuckDBPyConnection, sql: str) -> Bound:
    """Bind `sql` inside parentheses, as dbt's `create ... as (...)` puts it (a trailing `;` fails there too)."""
    import duckdb

    try:
        rows = con.execute(f"describe select * from (\n{sql.rstrip()}\n)").fetchall()
    except duckdb.Error as exc:
        return Bound(False, error=str(exc))
    return Bound(True, columns=tuple(r[0] for r in rows))


def _name(parts: tuple[str, str, str]) -> str:
    return ".".join(queries.quote(p) for p in parts)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

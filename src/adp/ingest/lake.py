"""Land ingested tables as Parquet folders (`<lake>/<table>/part-0.parquet`) that any engine reads.

A local folder stands in for object storage: DuckDB reads it with `read_parquet`, Spark with
`create table ... using parquet location '<lake>/<table>'` (the sample project's `lake_sources`
macro). Each folder is replaced atomically, so a reader sees the old files or the new ones.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from adp.errors import AdpError
from adp.ingest.sql import literal, qualified


@dataclass(frozen=True)
class LakeTable:
    """One table written to the lake."""

    table: str  # schema.table in the DuckDB file
    path: str  # the table's folder
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_lake(db: Path, lake: Path, schema: str = "raw") -> list[LakeTable]:
    """Write every table of `schema` in the DuckDB file `db` (but adp's `_`-prefixed state tables) to `lake`.

    Raises AdpError when the file is missing or locked by a writer.
    """
    if not db.is_file():
        raise AdpError(f"{db}: no DuckDB file to export (run `adp ingest --all` first)")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise AdpError(f"cannot read `{db}` (is another process writing it?): {exc}") from exc
    lake.mkdir(parents=True, exist_ok=True)
    out = []
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() and schema_name = ? "
            "and not starts_with(table_name, '_') order by table_name", [schema]).fetchall()]
        for table in tables:
            rows = con.execute(f"select count(*) from {qualified(schema, table)}").fetchone()[0]
            _replace(lake / table, lambda tmp: con.execute(
                f"copy {qualified(schema, table)} to {literal(str(tmp / 'part-0.parquet'))} (format parquet)"))
            out.append(LakeTable(f"{schema}.{table}", str(lake / table), int(rows)))
    finally:
        con.close()
    return out


def _replace(folder: Path, write: Any) -> None:
    """Write into a fresh sibling folder, then swap it in place of `folder`."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write(tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


"""DuckDB: where the warehouse file is, which failures are transient, how to read relation columns."""
from __future__ import annotations

from pathlib import Path

from adp.project import DbtProject

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

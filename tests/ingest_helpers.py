"""A throwaway repo layout for ingestion tests: config/sources.yml, data/, and a tiny dbt project."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import duckdb

from adp.workspace import Workspace

PROFILE = """\
proj:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: wh.duckdb
      threads: 1
"""


def make_repo(root: Path, sources_yml: str) -> Workspace:
    """root/{config/sources.yml, data/, dbt/} -> a Workspace whose warehouse is root/dbt/wh.duckdb."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "dbt").mkdir(exist_ok=True)
    (root / "dbt" / "dbt_project.yml").write_text("name: proj\nversion: '1.0'\nconfig-version: 2\nprofile: proj\n")
    (root / "dbt" / "profiles.yml").write_text(PROFILE)
    write_sources(root, sources_yml)
    return Workspace.open(root / "dbt", root / "dbt", None, root / "config", root / "logs")


def write_sources(root: Path, sources_yml: str) -> None:
    (root / "config" / "sources.yml").write_text(textwrap.dedent(sources_yml))


def query(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with duckdb.connect(str(ws.project.project_dir / "wh.duckdb"), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def by_table(summaries: list[Any]) -> dict[str, Any]:
    return {s.table: s for s in summaries}

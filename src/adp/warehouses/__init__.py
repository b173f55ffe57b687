"""What is specific to one warehouse lives here, behind one typed interface (`base.Warehouse`).

One package per engine (`duckdb/`, `spark/`: its messages and its queries) exports a `Warehouse`
subclass; `facts` holds the engine-neutral facts their message parsers yield. `for_project` picks an
engine by the profile output's `type`; adding one is a new package plus one entry in `WAREHOUSES`.
"""
from __future__ import annotations

from adp.project import DbtProject
from adp.warehouses.base import Warehouse
from adp.warehouses.duckdb import DuckDB
from adp.warehouses.spark import Spark

WAREHOUSES: dict[str, type[Warehouse]] = {engine.name: engine for engine in (DuckDB, Spark)}


def for_project(project: DbtProject) -> Warehouse:
    """The warehouse of the project's selected profile output (DuckDB when the type is unknown)."""
    return WAREHOUSES.get(str(project.output().get("type")), DuckDB)()

"""What is specific to one warehouse lives here, behind one small interface per engine.

A warehouse module exports `NAME` and the functions the core calls (`lock_path`, and the ones the
diagnosis, healing and validation code ask for). `for_project` picks one by the profile's `type`;
adding an engine is one new module plus one entry in `WAREHOUSES`.
"""
from __future__ import annotations

from types import ModuleType

from adp.project import DbtProject
from adp.warehouses import duckdb, spark

WAREHOUSES: dict[str, ModuleType] = {duckdb.NAME: duckdb, spark.NAME: spark}


def for_project(project: DbtProject) -> ModuleType:
    """The warehouse module for the project's selected profile output (DuckDB when unknown)."""
    return WAREHOUSES.get(str(project.output().get("type")), duckdb)

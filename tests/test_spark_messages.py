"""Spark's error texts -> the same neutral facts DuckDB's give, on messages recorded from real dbt-spark runs.

tests/spark_errors/<fault>.txt are verbatim `run_results.json` messages (tests/spark_faults.py record);
bad_value and division_by_zero are verbatim pyspark 4.0.5 exception texts of the same faults (ANSI
mode), captured from a session directly: dbt-spark 1.11 forces ANSI mode off, so through dbt they
give NULL (docs/spark.md). No Spark is started here. The last test greps the core: only src/adp/warehouses/ names an engine.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from adp.warehouses import WAREHOUSES, facts as F, for_project
from adp.warehouses.spark import Spark
from adp.project import DbtProject
from spark_faults import PROJECT, RECORDED

SRC = Path(__file__).resolve().parents[1] / "src" / "adp"
spark = Spark()


def recorded(fault_id: str) -> str:
    path = RECORDED / f"{fault_id}.txt"
    if not path.is_file():
        pytest.fail(f"{path} is missing: record it with `.venv/bin/python tests/spark_faults.py record`")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "fault_id, kind, name, relation, hint",
    [
        ("column_typo", F.COLUMN_NOT_FOUND, "frist_name", None, "first_name"),
        ("function_typo", F.FUNCTION_NOT_FOUND, "lowr", None, None),
        ("wrong_alias", F.ALIAS_NOT_FOUND, "o", None, "orders"),
        ("group_by_missing", F.GROUP_BY, "customer_name", None, None),
        ("ambiguous_column", F.AMBIGUOUS_COLUMN, "customer_id", None, "customers.customer_id"),
        ("hardcoded_table", F.TABLE_NOT_FOUND, "raw_customer", None, None),
        ("type_typo", F.TYPE_NOT_FOUND, "DECMAL", None, None),
    ],
)
def test_analysis_errors_become_neutral_facts(fault_id, kind, name, relation, hint):
    fact = spark.parse_error(recorded(fault_id))
    assert fact is not None and fact.kind == kind
    assert fact.name == name and fact.relation == relation
    if hint:
        assert hint in fact.hints
    assert fact.evidence and fact.evidence[0].startswith("[")


@pytest.mark.parametrize("fault_id", ["missing_comma", "unbalanced_paren"])
def test_parse_errors_keep_the_token_and_the_quoted_line(fault_id):
    fact = spark.parse_error(recorded(fault_id))
    assert fact is not None and fact.kind == F.SYNTAX
    assert fact.name is not None and fact.line_text


def test_ansi_runtime_errors():
    cast = spark.parse_error(recorded("bad_value"))
    assert cast is not None and cast.kind == F.CONVERSION
    assert cast.value == "42.OO" and cast.target_type.upper().startswith("DECIMAL") and cast.name == "amount"
    div = spark.parse_error(recorded("division_by_zero"))
    assert div is not None and div.kind == F.DIVISION_BY_ZERO and div.value


def test_connection_loss_is_unavailable_and_unknown_text_is_none():
    lost = spark.parse_error("Runtime Error\n  py4j.protocol.Py4JError: Cannot call methods on a stopped SparkContext.")
    assert lost is not None and lost.kind == F.UNAVAILABLE
    held = spark.parse_error("Runtime Error\n  org.apache.hadoop.hive.ql.metadata.HiveException: java.lang.RuntimeException:"
                             " Unable to instantiate org.apache.hadoop.hive.ql.metadata.SessionHiveMetaStoreClient")
    assert held is not None and held.kind == F.UNAVAILABLE  # e.g. the Derby metastore held by another JVM
    assert spark.parse_error("Runtime Error\n  something no engine says") is None


def test_the_profile_type_picks_the_module(tmp_path):
    project = DbtProject.open(PROJECT, PROJECT, "spark")
    assert isinstance(for_project(project), Spark) and WAREHOUSES["spark"] is Spark
    assert spark.lock_path(project) == project.target_dir / ".adp.lock"
    assert spark.relation_columns(project, "shop.stg_orders") is None  # no Spark session in this process
    spark.release_in_process_handles()


ENGINE_NAMES = ("duckdb", "spark", "pyspark")
CORE = ["pipeline.py", "session.py", "heal", "apply.py", "artifacts.py", "runlog.py", "models.py", "engine", "diagnose", "fixes", "validate"]


def _engine_names_in_code(path: Path) -> list[str]:
    """Imports and identifiers (not comments or messages) that name an engine."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(a.name for a in node.names)]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        hits += [f"{path.relative_to(SRC)}:{node.lineno}: {n}" for n in names if any(e in n.lower() for e in ENGINE_NAMES)]
    return hits


def test_only_the_warehouse_modules_name_an_engine():
    files = [p for entry in CORE for p in ([SRC / entry] if entry.endswith(".py") else sorted((SRC / entry).rglob("*.py")))]
    assert len(files) > 10
    hits = [h for p in files for h in _engine_names_in_code(p)]
    assert hits == [], "engine-specific code outside src/adp/warehouses/:\n" + "\n".join(hits)

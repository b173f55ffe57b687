"""Unit tests of the diagnosis pieces: DuckDB message parsing, ranking, SQL column reading, CLI and log."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from adp.diagnose.candidates import rank
from adp.diagnose.taxonomy import CATEGORIES
from adp.diagnose.locate import find_line, find_text, find_yaml_key
from adp.diagnose import sql_columns
from adp.runlog import RunLog, read_events, save_result
from adp.warehouses import facts as F
from adp.warehouses.duckdb.messages import parse_error
from conftest import REPO, run_adp

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
from corpus import cases, restore  # noqa: E402

# Verbatim DuckDB 2.0 texts (docs: ../shared/reference/dbt-failures.md), with dbt's prefix where it adds one.
MESSAGES = [
    ('Runtime Error in model m (models/m.sql)\n  Binder Error: Referenced column "frist_name" not found in FROM clause!\n'
     '  Candidate bindings: "first_name", "last_name"\n  \n  LINE 8:     cast(x as date) as x\n            ^^^',
     F.COLUMN_NOT_FOUND, "frist_name", None, ("first_name", "last_name")),
    ('Binder Error: Values list "orders" does not have a column named "stauts"', F.COLUMN_NOT_FOUND, "stauts", "orders", ()),
    ("Binder Error: Ambiguous reference to column name \"customer_id\" (use: 'customers.customer_id' or 'orders.customer_id')",
     F.AMBIGUOUS_COLUMN, "customer_id", None, ("customers.customer_id", "orders.customer_id")),
    ('Binder Error: column "customer_name" must appear in the GROUP BY clause or must be part of an aggregate function.',
     F.GROUP_BY, "customer_name", None, ()),
    ('Catalog Error: Scalar Function with name summ does not exist!\nDid you mean "sum"?', F.FUNCTION_NOT_FOUND, "summ", None, ("sum",)),
    ('Catalog Error: Table with name raw_customer does not exist!\nDid you mean "pragma_database_list"?',
     F.TABLE_NOT_FOUND, "raw_customer", None, ("pragma_database_list",)),
    ('Binder Error: Referenced table "o" not found!\nCandidate tables: "orders", "products"', F.ALIAS_NOT_FOUND, "o", None, ("orders", "products")),
    ('Parser Error: syntax error at or near "lower"\n\nLINE 10:     lower(status) as status,', F.SYNTAX, "lower", None, ()),
    ('Binder Error: Column "customer_id" referenced that exists in the SELECT clause - but this column cannot be referenced before it is defined',
     F.COLUMN_BEFORE_DEFINED, "customer_id", None, ()),
    ("Conversion Error: Could not convert string 'ada@example.com' to INT32 when casting from source column email",
     F.CONVERSION, "email", None, ()),
    ('Conversion Error: invalid date field format: "unknown", expected format is (YYYY-MM-DD) when casting from source column order_date',
     F.CONVERSION, "order_date", None, ()),
    ("Invalid Input Error: Division by zero in expression (count_star() // 0). Use TRY(...) to return NULL",
     F.DIVISION_BY_ZERO, None, None, ()),
    ('IO Error: No files found that match the pattern "data/raw_payments.csv"', F.FILE_MISSING, "data/raw_payments.csv", None, ()),
    ('IO Error: Could not set lock on file "/tmp/x/shop.duckdb": Conflicting lock is held in /usr/bin/python3.11 (PID 16729). '
     "See also https://duckdb.org/docs/current/connect/concurrency", F.LOCKED, "/tmp/x/shop.duckdb", None, ()),
    ('Invalid Input Error: Error when sniffing file "/tmp/x/seeds/raw.csv".\nIt does not match the number of columns found by the sniffer: 6.',
     F.CSV_COLUMNS_CHANGED, "/tmp/x/seeds/raw.csv", None, ()),
    ('Catalog Error: Type with name INTERGER does not exist!\nDid you mean "JSON"?', F.TYPE_NOT_FOUND, "INTERGER", None, ("JSON",)),
]


@pytest.mark.parametrize("text,kind,name,relation,hints", MESSAGES, ids=[m[1] + str(i) for i, m in enumerate(MESSAGES)])
def test_parse_duckdb_message(text, kind, name, relation, hints):
    fact = parse_error(text)
    assert fact is not None and (fact.kind, fact.name, fact.relation, fact.hints) == (kind, name, relation, hints)
    assert fact.evidence and all("\n" not in e for e in fact.evidence)


def test_parse_details_and_distrust():
    lock = parse_error(MESSAGES[13][0])
    assert lock.value == "/usr/bin/python3.11 (PID 16729)"
    conv = parse_error(MESSAGES[9][0])
    assert (conv.value, conv.target_type) == ("ada@example.com", "INT32")
    assert parse_error(MESSAGES[5][0]).hints_trusted is False  # "pragma_database_list" is no table of the project
    assert parse_error(MESSAGES[0][0]).evidence[-1].startswith("Candidate bindings")  # LINE n is dbt's wrapper
    assert parse_error("Got 1 result, configured to fail if != 0") is None


def test_rank_prefers_close_names_and_message_hints():
    ranked = rank("frist_name", ["last_name", "first_name", "signup_date"], hints=["first_name"])
    assert [c.name for c in ranked][:2] == ["first_name", "last_name"]
    assert ranked[0].source == "message" and ranked[0].score > ranked[1].score
    assert rank("product_catalog", ["stg_orders", "raw_customers"]) == []
    assert all(c.name != "x" for c in rank("x", ["x", "X"]))


def test_locate_helpers():
    text = "-- frist_name in a comment\nselect\n    frist_name,\n    frist_name_x\n"
    assert find_line(text, "frist_name") == 3
    assert find_text(text, "frist_name,") == 3
    assert find_yaml_key("models:\n  - name: a\n    columns:\n      - name: b\n", "name", "b") == 4


def test_sql_columns_reads_ctes_aliases_and_select_list():
    sql = ("with orders as (\n select * from \"db\".\"main\".\"o\"\n), x as (select 1 as k)\n"
           "select orders.status, count(*) as n, cast(a as int) as a2, p.* from orders left join \"db\".\"main\".\"p\" as p on 1=1")
    assert set(sql_columns.ctes(sql)) == {"orders", "x"}
    assert [sql_columns.output_name(i) for i in sql_columns.select_items(sql)] == ["status", "n", "a2", "*"]
    assert sql_columns.from_relations(sql)["p"] == '"db"."main"."p"'


def _restored(name: str, tmp_path: Path):
    case = next(c for c in cases() if c.id == name)
    project = tmp_path / case.project
    return case, project, restore(case, project)


def test_cli_diagnose_json_and_log(tmp_path):
    case, project, result = _restored("lib_macro_function_typo", tmp_path)
    logs = tmp_path / "logs"
    save_result(logs, "20240101T000000-abc123", result)
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "config" / "execution_mode.yml", config)
    res = run_adp("diagnose", "--project-dir", str(project), "--profiles-dir", str(project),
                  "--config-dir", str(config), "--log-dir", str(logs), "--json", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    out = res.json()
    assert [(d["category"], d["file"], d["identifier"]) for d in out] == [
        ("sql.function_not_found", "macros/days_between.sql", "date_dif")]
    assert set(out[0]) == {"category", "summary", "transient", "node", "root_cause_node", "file", "line", "identifier",
                           "candidates", "evidence", "phase", "message", "details", "fact"}
    assert out[0]["fact"]["kind"] == "function_not_found" and out[0]["fact"]["name"] == "date_dif"
    events = [e for e in read_events(logs) if e["event"] == "diagnosis"]
    assert len(events) == 1 and events[0]["identifier"] == "date_dif"


def test_cli_diagnose_without_saved_run_is_usage_error(tmp_path):
    _, project, _ = _restored("lib_ref_typo", tmp_path)
    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "config" / "execution_mode.yml", config)
    res = run_adp("diagnose", "--project-dir", str(project), "--config-dir", str(config), "--log-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert res.returncode == 2 and "no saved result" in res.stderr


def test_library_emits_one_event_per_diagnosis(tmp_path):
    from adp.diagnose import diagnose
    from adp.project import DbtProject

    _, project, result = _restored("lib_ephemeral_column_typo", tmp_path)
    log = RunLog(tmp_path / "logs", "r1")
    found = diagnose(result, DbtProject.open(project, project), log)
    assert len(found) == 1 and len(found[0].details["failed_nodes"]) == 2  # one cause, two failed models
    lines = (tmp_path / "logs" / "pipeline_runs.log").read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["diagnosis"]


def test_every_category_is_documented_with_its_meaning():
    doc = (REPO / "docs" / "diagnosis.md").read_text(encoding="utf-8")
    missing = [c for c, meaning in CATEGORIES.items() if f"| `{c}` | {meaning} |" not in doc]
    assert not missing, f"docs/diagnosis.md lacks (or words differently) the rows for {missing}"

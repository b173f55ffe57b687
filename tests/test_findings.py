"""The findings file of an escalation: failing rows, the query, upstream files and seed lines, grouped by cause.

The end-to-end cases build a small dbt project from strings (two seeds and a CSV source read through
dbt-duckdb's `external_location`), run the real `adp run` on real dbt and DuckDB, and compare the findings
with tests/golden/findings_data_test.md.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from adp.artifacts import Manifest
from adp.config import load_execution_config
from adp.errors import ConfigError
from adp.findings import _engine_line_note
from adp.project import DbtProject
from adp.runlog import read_events
from adp.samples import FailedTest, failed_tests, group_by_cause
from adp.warehouses.base import Rows, sample_query
from adp.warehouses.spark import Spark
from adp.workspace import Workspace
from conftest import run_adp

GOLDEN = Path(__file__).parent / "golden" / "findings_data_test.md"

FILES = {
    "dbt_project.yml": "name: shopx\nversion: '1.0.0'\nconfig-version: 2\nprofile: shopx\n",
    "profiles.yml": "shopx:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n      path: shopx.duckdb\n      threads: 1\n",
    # customer 3 appears twice: the second line was meant to be customer 4, whom order 11 references
    "seeds/customers.csv": "customer_id,name\n1,Ana\n2,Ben\n3,Caro\n3,Dev\n",
    "seeds/orders.csv": "order_id,customer_id,amount\n10,1,5\n11,4,7\n12,2,3\n",
    "data/payments.csv": "payment_id,amount\n1,5\n2,\n",
    "models/stg_customers.sql": "select customer_id, name from {{ ref('customers') }}\n",
    "models/stg_orders.sql": "select order_id, customer_id, amount from {{ ref('orders') }}\n",
    "models/stg_refunds.sql": "select refund_id, amount from {{ source('raw', 'refunds') }}\n",
    "models/stg_payments.sql": "select payment_id, amount from {{ source('raw', 'payments') }}\n",
    "models/schema.yml": """version: 2
sources:
  - name: raw
    tables:
      - name: payments
        meta:
          external_location: data/payments.csv
      - name: refunds  # loaded by `adp ingest` from ../data/raw/refunds.csv (config/sources.yml)
models:
  - name: stg_customers
    columns:
      - name: customer_id
        data_tests: [unique]
  - name: stg_orders
    columns:
      - name: customer_id
        data_tests:
          - relationships:
              to: ref('stg_customers')
              field: customer_id
  - name: stg_payments
    columns:
      - name: amount
        data_tests: [not_null]
  - name: stg_refunds
    columns:
      - name: refund_id
        data_tests: [unique]
""",
}
INGESTED = {  # relative to the repo root, the parent of config/
    "config/sources.yml": 'sources:\n  files:\n    csv:\n      path: data/raw/\n      pattern: "*.csv"\n',
    "data/raw/refunds.csv": "refund_id,amount\n1,5\n1,6\n",
}


def make_project(root: Path, samples: str | None = None) -> Path:
    project = root / "shopx"
    for rel, text in FILES.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    for rel, text in INGESTED.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if samples is not None:
        (root / "config" / "execution_mode.yml").write_text(f"samples: {samples}\n")
    return project


def adp_run(root: Path, project: Path):
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--json", cwd=root)
    assert res.returncode == 3, res.stderr[-3000:]
    out = res.json()
    return out, Path(out["findings_path"]).read_text(encoding="utf-8")


def normalized(text: str, run_id: str, root: Path) -> str:
    return text.replace(run_id, "<run_id>").replace(str(root), "<tmp>")


@pytest.mark.dbt
def test_data_test_findings_match_the_golden_file(tmp_path):
    project = make_project(tmp_path)
    out, findings = adp_run(tmp_path, project)
    text = normalized(findings, out["run_id"], tmp_path)
    if os.environ.get("ADP_UPDATE_GOLDEN") == "1":  # rewrite it on purpose, then review the diff
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    # the acceptance, spelled out: the failing rows and the seed lines behind them, the source's file
    assert "| unique_field | n_records |\n|---|---|\n| 3 | 2 |" in text
    assert "Lines of `seeds/customers.csv` whose `customer_id` is `3`:\n\n```\n4: 3,Caro\n5: 3,Dev\n```" in text
    assert "- `data/payments.csv` (external_location: `source.shopx.raw.payments`)" in text
    assert "- `<tmp>/data/raw/refunds.csv` (`sources.files.csv` in config/sources.yml: `source.shopx.raw.refunds`)" in text
    assert "(2 failures, likely one cause)" in text and "Failed data test 3 of 3: `stg_refunds.refund_id`" in text
    assert "Suggested fix" not in text and "suggested fix below" not in text
    assert "`dbt show --project-dir <tmp>/shopx --profiles-dir <tmp>/shopx --select unique_stg_customers_customer_id --limit 5`" in text


@pytest.mark.dbt
def test_each_sample_is_a_run_log_event(tmp_path):
    project = make_project(tmp_path, "{enabled: true, max_rows: 1}")
    out, findings = adp_run(tmp_path, project)
    events = [e for e in read_events(tmp_path / "logs", out["run_id"]) if e["event"] == "failed_rows_sampled"]
    by_node = {e["node"]: e for e in events}
    assert len(events) == 4 and len(by_node) == 4
    unique = by_node["test.shopx.unique_stg_customers_customer_id.c7614daada"]
    assert unique["columns"] == ["unique_field", "n_records"] and unique["rows"] == [[3, 2]]
    assert unique["query"].endswith("limit 1") and "group by customer_id" in unique["query"]
    nulls = next(e for uid, e in by_node.items() if "not_null_stg_payments_amount" in uid)
    assert nulls["columns"] == ["amount"] and nulls["rows"] == [[None]]
    assert "Failing rows (first 1, read-only)" in findings
    json.dumps(events)  # JSON scalars only
    # without a warehouse file to read there is no sample, and no event; the lineage still shows
    (project / "shopx.duckdb").unlink()
    ws = Workspace.open(project, project, config_dir=tmp_path / "config", log_dir=tmp_path / "logs")
    tests = failed_tests(ws, out["nodes"], out["diagnoses"])
    assert [t.rows for t in tests] == [None] * 4
    assert {t.no_sample for t in tests} == {"the warehouse could not be read now, or this engine cannot sample read-only"}
    unique = next(t for t in tests if t.name == "unique_stg_customers_customer_id")
    assert [(u.path, u.via) for u in unique.upstream] == [("seeds/customers.csv", "seed")] and unique.seed_lines == ()


@pytest.mark.dbt
def test_samples_can_be_turned_off(tmp_path):
    project = make_project(tmp_path, "{enabled: false}")
    out, findings = adp_run(tmp_path, project)
    assert not [e for e in read_events(tmp_path / "logs", out["run_id"]) if e["event"] == "failed_rows_sampled"]
    assert "Failing rows" not in findings and "| unique_field" not in findings
    assert findings.count("No sample: row samples are turned off (`samples.enabled: false`).") == 4
    assert "- `seeds/customers.csv` (seed: `seed.shopx.customers`)" in findings  # the lineage needs no query


@pytest.mark.parametrize("text, message", [
    ("samples: {max_rows: 0}", "must be between 1 and 100"),
    ("samples: {max_rows: five}", "expected an integer"),
    ("samples: {enabled: 'yes'}", "expected true or false"),
    ("samples: {rows: 3}", "unknown key"),
])
def test_bad_samples_config_names_file_and_key(tmp_path, text, message):
    (tmp_path / "execution_mode.yml").write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_execution_config(tmp_path)
    assert err.value.exit_code == 2
    assert "execution_mode.yml" in str(err.value) and "samples." in str(err.value) and message in str(err.value)


def test_samples_default_on_with_five_rows(tmp_path):
    config = load_execution_config(tmp_path)
    assert (config.samples.enabled, config.samples.max_rows) == (True, 5)


def test_bad_samples_config_exits_2_from_the_cli(tmp_path):
    project = make_project(tmp_path, "{max_rows: -1}")
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), cwd=tmp_path)
    assert res.returncode == 2
    assert "execution_mode.yml" in res.stderr and "samples.max_rows" in res.stderr


def test_engine_line_is_said_to_point_into_compiled_sql():
    traced = {"message": "Binder Error: column x not found\nLINE 3: select x from t", "file": "models/a.sql", "line": 7,
              "details": {"compiled_line": 3}}
    note = _engine_line_note(traced, "target/compiled/p/models/a.sql")
    assert note == ("the engine's `LINE 3` counts lines of the SQL dbt sent to the engine (the compiled SQL "
                    "`target/compiled/p/models/a.sql` inside dbt's query comment and DDL, as in `target/run/p/models/a.sql`), "
                    "not lines of `models/a.sql`; adp traced its text (compiled line 3) to `models/a.sql` line 7.")
    assert _engine_line_note({**traced, "details": {}}, None).endswith("the diagnosis points to `models/a.sql` line 7.")
    untraced = {**traced, "line": None, "details": {}}
    assert _engine_line_note(untraced, None).endswith("adp could not trace it to a line of the model file.")
    assert _engine_line_note({"message": "Got 1 result", "file": "models/a.sql"}, None) is None


@pytest.mark.dbt
def test_syntax_error_findings_say_where_line_n_points(tmp_path):
    project = make_project(tmp_path)
    (project / "models/stg_customers.sql").write_text(
        "select customer_id,\n  name\nfrom {{ ref('customers') }}\nwhere name = 'x' and and 1=1\n")
    out, findings = adp_run(tmp_path, project)
    assert ("the engine's `LINE 8` counts lines of the SQL dbt sent to the engine (the compiled SQL "
            "`target/compiled/shopx/models/stg_customers.sql` inside dbt's query comment and DDL") in findings
    assert "not lines of `models/stg_customers.sql`; the diagnosis points to `models/stg_customers.sql` line 4." in findings
    assert len((project / "models/stg_customers.sql").read_text().splitlines()) == 4  # LINE 8 is not in the model
    dirs = f"--project-dir {project} --profiles-dir {project}"
    assert f"- Inspect `model.shopx.stg_customers`: `adp inspect model.shopx.stg_customers {dirs}`." in findings
    assert (f"- Fix `models/stg_customers.sql` line 4 by hand, then check it: "
            f"`dbt build {dirs} --select stg_customers+`.") in findings
    assert "Suggested fix" not in findings and "suggested fix below" not in findings


def test_sample_query_and_json_scalars():
    assert re.fullmatch(r"select \* from \(\nwith a as \(select 1\) select \* from a\n\) as failing_rows limit 3",
                        sample_query("with a as (select 1) select * from a;\n", 3))
    import datetime

    rows = Rows.of(("d", "f", "n"), [(datetime.date(2026, 1, 2), float("nan"), None)])
    assert rows.rows == (("2026-01-02", "nan", None),)


def test_spark_without_a_session_gives_no_sample(tmp_path):
    assert Spark().sample_rows(DbtProject(tmp_path), "select 1", 5) is None


def failed(uid: str, model: str, column: str, to: tuple[str, str] | None = None) -> FailedTest:
    return FailedTest(node=uid, name=uid, test=uid.split(".")[1], model=model, column=column, to=to, file=None, line=None,
                      compiled_path=None, query=None, rows=None, no_sample="x", upstream=(), seed_lines=())


def test_failures_with_one_cause_are_grouped_cause_first(tmp_path):
    parents = {"model.p.stg": ["seed.p.raw"], "model.p.dim": ["model.p.stg"], "model.p.fct": ["model.p.other"],
               "model.p.other": []}
    (tmp_path / "manifest.json").write_text(json.dumps({"parent_map": parents}))
    downstream = failed("test.unique.dim", "model.p.dim", "id")  # same key, a model further down
    child = failed("test.relationships.fct", "model.p.fct", "dim_id", to=("model.p.stg", "id"))
    cause = failed("test.unique.stg", "model.p.stg", "id")
    alone = failed("test.not_null.other", "model.p.other", "amount")
    groups = group_by_cause([downstream, alone, child, cause], Manifest(tmp_path))
    assert [[t.node for t in g] for g in groups] == [
        ["test.unique.stg", "test.relationships.fct", "test.unique.dim"], ["test.not_null.other"]]

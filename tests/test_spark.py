"""The Spark tier: the same platform on a real local Spark (dbt-spark `method: session`, pyspark, Java 17).

tests/projects/spark_shop: 2 seeds, 5 models and the on-run-start hook that registers the Parquet
source (8 nodes), shuffle partitions 1, a warehouse dir and Derby metastore inside the project copy.
adp runs with the in-process engine so one Spark session serves every dbt call of a heal loop.
Each test is one `adp run`; a Spark session start costs tens of seconds, so faults are healed in groups.
The last test holds the project's Derby metastore from another Spark process: a transient, retried.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import adp.heal.loop as heal
from adp.pipeline import BuildSpec, run_pipeline
from adp.workspace import Workspace
from conftest import REPO, dbt_build, run_adp
from spark_faults import BY_ID, PROJECT

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

if shutil.which("java") is None:
    pytest.skip("the Spark tier needs Java 17 (`java` is not on PATH)", allow_module_level=True)
if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
    pytest.skip("the Spark tier needs the `[spark]` extra: pip install -e '.[test,spark]' (.ci/test-deps does)",
                allow_module_level=True)

CONFIG = """\
engine: in_process
ingest: {on_run: false}
report: {on_run: false}
"""
SKIP_PARTS = {"target", "logs", "spark", "config"}


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not SKIP_PARTS & set(p.relative_to(root).parts)}


@pytest.fixture(scope="session")
def built_spark_shop(tmp_path_factory) -> Path:
    """spark_shop built once on Spark (its metastore and warehouse dir are inside the copy)."""
    dest = tmp_path_factory.mktemp("spark-warm") / "spark_shop"
    shutil.copytree(PROJECT, dest)
    proc = dbt_build(dest)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return dest


@pytest.fixture
def spark_shop(built_spark_shop, tmp_path) -> Path:
    dest = tmp_path / "spark_shop"
    shutil.copytree(built_spark_shop, dest)
    (dest / "config").mkdir()
    (dest / "config" / "execution_mode.yml").write_text(CONFIG)
    return dest


def adp_run(project: Path, *extra: str):
    return run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "spark",
                   "--config-dir", str(project / "config"), "--log-dir", str(project / "logs"),
                   "--mode", "autonomous", "--json", *extra, cwd=project, timeout=1800)


@pytest.mark.parametrize(
    "group",
    [
        # staging faults first (marts are skipped), then the marts faults in the next iteration
        ("column_typo", "missing_comma", "function_typo", "group_by_missing", "wrong_alias"),
        # a dbt compile error stops the whole run; then a hard-coded table and a parse error; then an ambiguity
        ("ref_typo", "hardcoded_table", "unbalanced_paren", "type_typo", "ambiguous_column"),
    ],
    ids=["sql_then_marts", "compile_then_sql"],
)
def test_spark_heals_faults_back_to_the_original_files(spark_shop, group):
    original = tree(spark_shop)
    for fid in group:
        BY_ID[fid].inject(spark_shop)
    assert tree(spark_shop) != original
    res = adp_run(spark_shop)
    out = res.json()
    assert res.returncode == 0, f"{out['status']}: {out.get('findings_path')}\n{res.stderr[-3000:]}"
    assert out["status"] == "healed"
    assert {d["category"] for d in out["diagnoses"]} >= {BY_ID[fid].category for fid in group}
    applied = [f for f in out["fixes"] if f["applied"]]
    assert len(applied) >= len(group) and all(f["confidence"] >= 0.8 for f in applied)
    assert tree(spark_shop) == original, "healed files differ from the original project"


def test_spark_escalates_an_intent_fault_without_edits(spark_shop):
    fault = BY_ID["accepted_values_fails"]
    fault.inject(spark_shop)
    before = tree(spark_shop)
    res = adp_run(spark_shop)
    out = res.json()
    assert res.returncode == 3, f"{out['status']}\n{res.stderr[-3000:]}"
    assert out["status"] == "needs_review"
    assert out["diagnoses"][0]["category"] == fault.category
    assert not any(f["applied"] for f in out["fixes"])
    assert tree(spark_shop) == before


def test_the_same_parquet_source_builds_on_duckdb_too(built_spark_shop, tmp_path):
    dest = tmp_path / "spark_shop"
    shutil.copytree(PROJECT, dest)
    proc = dbt_build(dest, "--target", "dev")
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_sample_project_builds_green_on_spark(tmp_path):
    """dbt/ as shipped: ingest into DuckDB, land the tables in the lake, build on Spark."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "dbt", root / "dbt", ignore=shutil.ignore_patterns("target", "logs", "spark", "*.duckdb*"))
    shutil.copytree(REPO / "data" / "raw", root / "data" / "raw")
    (root / "config").mkdir()
    shutil.copy(REPO / "config" / "sources.yml", root / "config" / "sources.yml")
    (root / "config" / "execution_mode.yml").write_text(CONFIG)
    ingest = run_adp("ingest", "--all", "--json", cwd=root)
    assert ingest.returncode == 0, ingest.stdout[-2000:] + ingest.stderr[-2000:]
    lake = run_adp("lake", "--json", cwd=root)
    assert lake.returncode == 0, lake.stderr
    assert {t["table"] for t in lake.json()["tables"]} >= {"raw.customers", "raw.payments"}
    res = run_adp("run", "--target", "spark", "--json", cwd=root, timeout=1800)
    out = res.json()
    assert res.returncode == 0, f"{out['status']}\n{res.stderr[-3000:]}"
    assert out["status"] == "success"


# Another Spark process on the project's embedded Derby metastore (a notebook or spark-shell left open):
# Derby admits one JVM, so dbt fails until that process stops. The same transient as DuckDB's file lock.
METASTORE_HOLDER = """
import json, sys
from pyspark.sql import SparkSession
builder = SparkSession.builder.enableHiveSupport()
for key, value in json.loads(sys.argv[1]).items():  # the project profile's own Spark settings
    builder = builder.config(key, value)
spark = builder.getOrCreate()
spark.sql("show databases").collect()  # boots Derby: the metastore is now held
print("held", flush=True)
sys.stdin.readline()
spark.stop()
print("released", flush=True)
"""


@pytest.mark.parametrize("engine", ["subprocess", "in_process"])
def test_a_metastore_held_by_another_spark_is_retried_until_it_is_free(built_spark_shop, tmp_path, monkeypatch, engine):
    project = tmp_path / "spark_shop"
    shutil.copytree(built_spark_shop, project)
    profile = yaml.safe_load((project / "profiles.yml").read_text())["spark_shop"]["outputs"]["spark"]
    settings = json.dumps(profile["server_side_parameters"])
    holder = subprocess.Popen([sys.executable, "-c", METASTORE_HOLDER, settings], cwd=project, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    delays: list[float] = []
    try:
        assert holder.stdout.readline() == "held\n"

        def fake_sleep(seconds: float) -> None:  # stand-in for time: the other Spark stops during the wait
            delays.append(seconds)
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "released\n"

        monkeypatch.setattr(heal, "sleep", fake_sleep)
        (tmp_path / "config").mkdir()
        (tmp_path / "config/execution_mode.yml").write_text(
            f"engine: {engine}\ningest: {{on_run: false}}\nreport: {{on_run: false}}\n")
        ws = Workspace.open(project, project, "spark", config_dir=tmp_path / "config", log_dir=tmp_path / "logs")
        outcome = run_pipeline(ws, BuildSpec(), mode="autonomous")
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=60)
        if engine == "in_process":  # the retry reused this process's Spark: stop it for later tests
            from pyspark import SparkContext
            if SparkContext._active_spark_context is not None:
                SparkContext._active_spark_context.stop()
            assert SparkContext._active_spark_context is None
    assert outcome.status == "success" and outcome.exit_code == 0, outcome.diagnoses
    assert len(delays) == 1
    assert outcome.diagnoses[0]["transient"] is True
    assert outcome.diagnoses[0]["category"] == "env.warehouse_unavailable"
    events = [json.loads(line) for line in (tmp_path / "logs/pipeline_runs.log").read_text().splitlines()]
    assert sum(e["event"] == "retry" for e in events) == 1
    assert [e["engine"] for e in events if e["event"] == "dbt_finished"] == [engine, engine]


# The binder behind the warehouse interface on Spark: `DESCRIBE QUERY` on the session open in the process
# (another process than the test worker, which keeps no JVM), against the tables dbt-spark built.
SPARK_BIND = """
import json, sys
from pathlib import Path
from pyspark.sql import SparkSession
from adp.project import DbtProject
from adp.warehouses import for_project
project = DbtProject.open(Path.cwd(), Path.cwd(), "spark")
warehouse = for_project(project)
skipped = warehouse.bind(project, ["select 1"])  # no session in this process yet: the judge is skipped
builder = SparkSession.builder.enableHiveSupport()
for key, value in json.loads(sys.argv[1]).items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
bound = warehouse.bind(project, ["select customer_id, first_name from shop.stg_customers",
                                 "select frist_name from shop.stg_customers",
                                 "select customer_id, count(*) from shop.stg_customers"])
print(json.dumps({"skipped": skipped, "bound": [[b.ok, list(b.columns), b.error] for b in bound]}))
spark.stop()
"""


def test_the_spark_binder_judges_without_running(built_spark_shop, tmp_path):
    project = tmp_path / "spark_shop"
    shutil.copytree(built_spark_shop, project)
    profile = yaml.safe_load((project / "profiles.yml").read_text())["spark_shop"]["outputs"]["spark"]
    proc = subprocess.run([sys.executable, "-c", SPARK_BIND, json.dumps(profile["server_side_parameters"])],
                          cwd=project, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["skipped"] is None
    (ok, columns, error), (typo_ok, _, typo), (grouped_ok, _, grouped) = out["bound"]
    assert ok and columns == ["customer_id", "first_name"] and error is None
    assert not typo_ok and "frist_name" in typo and "UNRESOLVED_COLUMN" in typo
    assert not grouped_ok and ("MISSING_AGGREGATION" in grouped or "GROUP BY" in grouped)

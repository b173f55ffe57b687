"""Ingestion as `adp run` and the CLI use it: stale detection, foreign projects, errors, extensibility."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from adp.errors import ConfigError
from adp.ingest import ingest_for_run, run_ingest
from adp.ingest.job import Batch, Context, Job, Kind
from adp.ingest.registry import register, unregister
from adp.ingest.source import Source, Target
from adp.runlog import RunLog, read_events
from conftest import REPO, run_adp
from http_server import ApiServer, Reply
from ingest_helpers import make_repo, query, write_sources

FILES = """
project: dbt
sources:
  files:
    people: {path: data, pattern: "*.csv"}
"""


def repo_with_people(tmp_path, yml=FILES):
    ws = make_repo(tmp_path, yml)
    (tmp_path / "data" / "people.csv").write_text("name,age\nann,30\n")
    return ws


def events(ws, kind):
    return [e for e in read_events(ws.log_dir) if e["event"] == kind]


def test_ingest_for_run_loads_only_changed_sources(tmp_path):
    ws = repo_with_people(tmp_path)
    log = RunLog(ws.log_dir, "run-1")

    first = ingest_for_run(ws, log)
    second = ingest_for_run(ws, log)
    f = tmp_path / "data" / "people.csv"
    f.write_text("name,age\nann,30\nbob,31\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    third = ingest_for_run(ws, log)

    assert [(s["table"], s["status"], s["rows"]) for s in first] == [("raw.people", "loaded", 1)]
    assert second == []
    assert [(s["table"], s["rows"]) for s in third] == [("raw.people", 2)]
    json.dumps(first)  # JSON-able
    assert [e["reason"] for e in events(ws, "ingest_skipped")] == ["unchanged since its last load"]


def test_ingest_for_run_does_nothing_without_sources_or_for_another_project(tmp_path):
    ws = repo_with_people(tmp_path)
    (tmp_path / "config" / "sources.yml").unlink()
    assert ingest_for_run(ws, RunLog(ws.log_dir, "r")) == []
    write_sources(tmp_path, FILES.replace("project: dbt", "project: elsewhere"))
    assert ingest_for_run(ws, RunLog(ws.log_dir, "r")) == []
    assert not (ws.project.project_dir / "wh.duckdb").exists()


def test_ingest_for_run_skips_disabled_and_other_databases_and_reports_failures(tmp_path):
    ws = repo_with_people(tmp_path, FILES + """\
    other: {path: data, pattern: "*.csv", table: other, database: other.duckdb}
    paused: {enabled: false, path: data}
    bad: {path: data, pattern: "*.bin", table: bad, format: parquet}
""")
    (tmp_path / "data" / "junk.bin").write_bytes(b"not parquet")

    loads = ingest_for_run(ws, RunLog(ws.log_dir, "r"))

    assert [(s["source"], s["status"]) for s in loads] == [("people", "loaded"), ("bad", "error")]
    assert "junk.bin" in loads[1]["error"]
    assert not (tmp_path / "other.duckdb").exists()
    reasons = {e["source"]: e["reason"] for e in events(ws, "ingest_skipped")}
    assert reasons == {"other": "targets another database than this profile's", "paused": "disabled in sources.yml"}
    assert [e["source"] for e in events(ws, "ingest_failed")] == ["bad"]


def test_ingest_for_run_raises_config_errors(tmp_path):
    ws = repo_with_people(tmp_path, FILES.replace("pattern:", "patern:"))
    with pytest.raises(ConfigError) as err:
        ingest_for_run(ws, RunLog(ws.log_dir, "r"))
    assert err.value.key == "sources.files.people.patern"


@dataclass(frozen=True)
class Toy(Target):
    count: int = 3


def _plan_toys(source: Source, ctx: Context) -> list[Job]:
    n = source.settings.count
    sql = f"SELECT range AS n, 'toy://{source.name}' AS _source_file FROM range({n})"
    return [Job(source, source.name, source.settings, None, lambda ctx, state: Batch(sql, files=1), token=str(n))]


def test_a_new_source_kind_is_one_registration(tmp_path):
    register(Kind("toys", Toy, _plan_toys))
    try:
        ws = make_repo(tmp_path, "sources:\n  toys:\n    dice: {count: 6}\n")
        (s,) = run_ingest(ws)
        assert (s.kind, s.table, s.rows) == ("toys", "raw.dice", 6)
        assert query(ws, "SELECT max(n), min(_source_file) FROM raw.dice") == [(5, "toy://dice")]
    finally:
        unregister("toys")


def _cli_args(root: Path) -> list[str]:
    return ["--project-dir", str(root / "dbt"), "--profiles-dir", str(root / "dbt"),
            "--config-dir", str(root / "config"), "--log-dir", str(root / "logs")]


def test_cli_ingest_json_and_exit_codes(tmp_path):
    repo_with_people(tmp_path)

    ok = run_adp("ingest", "--all", "--json", *_cli_args(tmp_path), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert [(s["table"], s["status"]) for s in ok.json()["loads"]] == [("raw.people", "loaded")]

    unknown = run_adp("ingest", "peple", *_cli_args(tmp_path), cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean `people`?" in unknown.stderr

    write_sources(tmp_path, FILES.replace("people:", "people: 3 #"))
    bad = run_adp("ingest", "--all", *_cli_args(tmp_path), cwd=tmp_path)
    assert bad.returncode == 2 and "sources.yml" in bad.stderr and "sources.files.people" in bad.stderr


def test_scripts_are_thin_shells_with_json(tmp_path):
    repo_with_people(tmp_path)
    for script in ("ingest_files.py", "extract_api.py"):
        helped = subprocess.run([sys.executable, str(REPO / "scripts" / script), "--help"], capture_output=True, text=True)
        assert helped.returncode == 0 and "--all" in helped.stdout
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "ingest_files.py"), "--all", "--json", *_cli_args(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["loads"][0]["rows"] == 1
    api = subprocess.run([sys.executable, str(REPO / "scripts" / "extract_api.py"), "--all", "--json", *_cli_args(tmp_path)],
                         capture_output=True, text=True)
    assert api.returncode == 0 and json.loads(api.stdout)["loads"] == []


@pytest.mark.dbt
def test_local_api_to_adp_ingest_to_dbt_model_to_adp_run(tmp_path):
    with ApiServer() as api:
        api.routes["/orders"] = lambda req: Reply(body={"data": [{"id": i, "amount": i * 10} for i in range(1, 6)]})
        make_repo(tmp_path, f"""
            project: dbt
            sources:
              apis:
                local:
                  base_url: "{api.url}"
                  endpoints:
                    - {{name: orders, path: /orders, data_selector: data}}
              files:
                rates: {{path: data, pattern: rates.csv}}
            """)
        (tmp_path / "data" / "rates.csv").write_text("rate\n2\n")
        dbt = tmp_path / "dbt"
        (dbt / "models").mkdir()
        (dbt / "models" / "sources.yml").write_text(textwrap.dedent("""\
            version: 2
            sources:
              - name: api
                schema: raw
                loaded_at_field: _loaded_at
                tables:
                  - name: orders
                  - name: rates
            """))
        (dbt / "models" / "order_total.sql").write_text(
            "select sum(amount) * (select max(rate) from {{ source('api', 'rates') }}) as total, count(*) as n "
            "from {{ source('api', 'orders') }}\n")

        ingested = run_adp("ingest", "--all", "--json", *_cli_args(tmp_path), cwd=tmp_path)
        assert ingested.returncode == 0, ingested.stderr
        assert [(s["table"], s["rows"]) for s in ingested.json()["loads"]] == [("raw.orders", 5), ("raw.rates", 1)]
        rates = tmp_path / "data" / "rates.csv"
        rates.write_text("rate\n3\n")
        os.utime(rates, ns=(rates.stat().st_atime_ns, rates.stat().st_mtime_ns + 10**9))

        ran = run_adp("run", "--no-heal", "--json", *_cli_args(tmp_path), cwd=tmp_path)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.json()["status"] == "success"
    assert [(s["table"], s["status"]) for s in ran.json()["ingested"]] == [("raw.rates", "loaded")]  # only what changed
    assert query_total(dbt) == [(450, 5)]  # 150 * the new rate 3


def query_total(dbt: Path):
    import duckdb

    with duckdb.connect(str(dbt / "wh.duckdb"), read_only=True) as conn:
        return conn.execute("SELECT total, n FROM main.order_total").fetchall()

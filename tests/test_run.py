"""`adp run` against real dbt and DuckDB: outcomes, exit codes, stale artifacts, locking, the run log."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from adp.lock import WriterLock
from conftest import run_adp

pytestmark = pytest.mark.dbt


def events(log_dir: Path) -> list[dict]:
    lines = (log_dir / "pipeline_runs.log").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is one complete JSON object
    for ev in parsed:
        assert {"ts", "run_id", "event"} <= ev.keys()
    return parsed


def test_green_build_exits_0_with_a_correct_result(warm_project, tmp_path):
    project = warm_project("mini")
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.json()
    assert out["status"] == "success" and out["attempts"] == 1
    statuses = {n["name"]: n["status"] for n in out["nodes"]}
    assert statuses["people"] == "success" and statuses["city_scores"] == "success"
    assert statuses["unique_stg_people_person_id"] == "pass"
    assert len(out["nodes"]) == 6  # 1 seed, 2 models, 3 tests
    evs = events(tmp_path / "logs")
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("node_finished") == 6
    assert evs[-1]["status"] == "success" and evs[-1]["exit_code"] == 0
    assert "/6" in res.stderr  # live progress, plain lines without a TTY


def test_sql_error_exits_1_with_node_message_and_file(warm_project, tmp_path):
    project = warm_project("mini")
    model = project / "models/marts/finance/city_scores.sql"
    model.write_text(model.read_text().replace("sum(score)", "sum(scor)"))
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--no-heal", "--json", cwd=tmp_path)
    assert res.returncode == 1
    out = res.json()
    assert out["status"] == "failed"
    failed = [n for n in out["nodes"] if n["status"] == "error"]
    assert [n["name"] for n in failed] == ["city_scores"]
    assert failed[0]["file"] == "models/marts/finance/city_scores.sql"
    assert 'Referenced column "scor" not found' in failed[0]["message"]
    skipped = [n["name"] for n in out["nodes"] if n["status"] == "skipped"]
    assert skipped == ["unique_city_scores_city"]
    finished = [e for e in events(tmp_path / "logs") if e["event"] == "node_finished" and e["status"] == "error"]
    assert finished[0]["file"] == "models/marts/finance/city_scores.sql"


def test_parse_error_is_read_from_the_log_not_from_stale_run_results(warm_project, tmp_path):
    project = warm_project("mini")  # its target/run_results.json is from a green build
    stale = json.loads((project / "target/run_results.json").read_text())
    assert all(r["status"] in ("success", "pass") for r in stale["results"])
    model = project / "models/marts/finance/city_scores.sql"
    model.write_text(model.read_text().replace("ref('stg_people')", "ref('stg_peple')"))
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--no-heal", "--json", cwd=tmp_path)
    assert res.returncode == 1
    out = res.json()
    assert out["status"] == "failed" and out["nodes"] == []
    assert "stg_peple" in out["error"] and "was not found" in out["error"]
    # dbt left the old file in place; adp did not read it as this run's result
    assert json.loads((project / "target/run_results.json").read_text())["metadata"] == stale["metadata"]


def test_missing_profiles_dir_is_a_usage_error(warm_project, tmp_path):
    project = warm_project("mini")
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert res.returncode == 2
    assert "--profiles-dir" in res.stderr and "does not exist" in res.stderr
    assert not (tmp_path / "logs" / "pipeline_runs.log").exists()


def test_project_dir_without_dbt_project_yml_is_a_usage_error(tmp_path):
    res = run_adp("run", "--project-dir", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "dbt_project.yml" in res.stderr


def test_profiles_yml_missing_from_existing_dir_is_a_pipeline_failure(warm_project, tmp_path):
    project = warm_project("mini")
    empty = tmp_path / "profiles"
    empty.mkdir()
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(empty), "--no-heal", "--json", cwd=tmp_path)
    assert res.returncode == 1
    out = res.json()
    assert out["status"] == "failed"
    assert "mini_profile" in out["error"]  # dbt's own message: Could not find profile named 'mini_profile'


def test_invalid_execution_config_names_file_and_key(warm_project, tmp_path):
    project = warm_project("mini")
    (tmp_path / "config").mkdir()
    (tmp_path / "config/execution_mode.yml").write_text("retry:\n  max_retries: three\n")
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), cwd=tmp_path)
    assert res.returncode == 2
    assert "execution_mode.yml" in res.stderr and "retry.max_retries" in res.stderr


def test_foreign_project_with_relative_db_path_from_another_cwd(warm_project, tmp_path):
    project = warm_project("mini")
    (project / "mini.duckdb").unlink()
    shutil.rmtree(project / "target")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--json", cwd=elsewhere)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (project / "mini.duckdb").is_file() and not (elsewhere / "mini.duckdb").exists()
    with duckdb.connect(str(project / "mini.duckdb"), read_only=True) as con:
        assert con.execute("select sum(people) from city_scores").fetchone()[0] == 4


def test_args_after_double_dash_go_to_dbt(warm_project, tmp_path):
    project = warm_project("mini")
    res = run_adp(
        "run", "--project-dir", str(project), "--profiles-dir", str(project), "--json", "--", "--select", "people",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert [n["name"] for n in res.json()["nodes"]] == ["people"]


def test_second_run_waits_for_the_writer_lock_then_proceeds(warm_project, tmp_path):
    project = warm_project("mini")
    release = threading.Event()
    with WriterLock(project / "mini.duckdb.adp.lock", timeout=5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "adp", "run", "--project-dir", str(project), "--profiles-dir", str(project), "--json"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = proc.stderr.readline()  # the event: adp says it is waiting
        assert "waiting" in line and "writer lock" in line
        release.set()
    out, _ = proc.communicate(timeout=300)
    assert release.is_set() and proc.returncode == 0
    assert json.loads(out)["status"] == "success"


def test_second_run_gives_up_clearly_when_the_lock_is_held_too_long(warm_project, tmp_path):
    project = warm_project("mini")
    (tmp_path / "config").mkdir()
    (tmp_path / "config/execution_mode.yml").write_text("execution:\n  lock_timeout_seconds: 1\n")
    with WriterLock(project / "mini.duckdb.adp.lock", timeout=5):
        res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), cwd=tmp_path)
    assert res.returncode == 1
    assert "writer lock" in res.stderr and "Try again" in res.stderr
    with duckdb.connect(str(project / "mini.duckdb"), read_only=True) as con:  # DB intact
        assert con.execute("select count(*) from people").fetchone()[0] == 4


def test_invalid_sources_config_stops_before_anything_runs(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/sources.yml").write_text("sources:\n  files:\n    csv:\n      enabld: true\n")
    project = Path(__file__).parent / "projects" / "mini"
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), cwd=tmp_path)
    assert res.returncode == 2
    assert "sources.yml" in res.stderr and "sources.files.csv.enabld" in res.stderr
    assert not (tmp_path / "logs").exists() and not (project / "mini.duckdb").exists()

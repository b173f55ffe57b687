"""Validation against the last good run, on a real dbt project and a real DuckDB warehouse."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from adp.config import Validate
from adp.history_db import ColumnProfile, HistoryDB, RelationProfile
from adp.runlog import RunLog, load_result, read_events
from adp.validate import snapshot_run, validate
from adp.validate.findings import CHECKS, Context, Pair, changed_tests
from adp.workspace import Workspace
from conftest import dbt_build, run_adp

MART = "models/marts/finance/city_scores.sql"


def workspace(project: Path, config_dir: Path | None = None) -> Workspace:
    return Workspace.open(project, project, None, config_dir or project / "config", project / "logs")


def adp_run(project: Path) -> dict:
    """A real `adp run` (no healing) in the project, returning its --json outcome."""
    res = run_adp("run", "--no-heal", "--json", "--project-dir", ".", "--profiles-dir", ".", cwd=project)
    assert res.returncode in (0, 1), res.stderr
    return res.json()


def green_baseline(project: Path) -> Workspace:
    """One real green `adp run`, snapshotted as the last good run (again, if `adp run` already did)."""
    out = adp_run(project)
    assert out["status"] == "success", out
    ws = workspace(project)
    snapshot_run(ws, out["run_id"], load_result(ws.log_dir, out["run_id"]))
    return ws


def rebuild(project: Path) -> None:
    """A real `dbt build` outside adp, so that no snapshot is taken of the changed state."""
    proc = dbt_build(project)
    assert proc.returncode == 0, proc.stdout[-2000:]


def adp_validate(project: Path, *extra: str):
    return run_adp("validate", "--json", "--project-dir", ".", "--profiles-dir", ".", *extra, cwd=project)


def by_check(findings: list[dict], check: str) -> list[dict]:
    return [f for f in findings if f["check"] == check]


# -- real dbt ---------------------------------------------------------------------------------------


@pytest.mark.dbt
def test_first_run_has_only_an_info_finding(warm_project):
    project = warm_project("mini")
    ws = workspace(project)
    log = RunLog(ws.log_dir, "run-1")
    findings = validate(ws, log=log)
    assert [(f.severity, f.check) for f in findings] == [("info", "baseline")]
    (event,) = [e for e in read_events(ws.log_dir) if e["event"] == "validation"]
    assert event["run_id"] == "run-1" and event["errors"] == 0 and event["baseline"] is None
    assert not (ws.log_dir / "history.duckdb").exists()  # validating never creates the history DB


@pytest.mark.dbt
def test_unchanged_rerun_passes(warm_project):
    project = warm_project("mini")
    green_baseline(project)
    rebuild(project)
    res = adp_validate(project)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.json() == {"status": "ok", "findings": []}


@pytest.mark.dbt
def test_a_join_that_drops_rows_is_an_error_and_loose_thresholds_pass_it(warm_project, tmp_path):
    project = warm_project("mini")
    ws = green_baseline(project)
    sql = project / MART
    sql.write_text(sql.read_text().replace(
        "from {{ ref('stg_people') }}",
        "from {{ ref('stg_people') }} join (select 'Lisbon' as city) as keep using (city)",
    ))
    rebuild(project)  # still green: only validation sees it

    res = adp_validate(project)
    assert res.returncode == 1
    (volume,) = by_check(res.json()["findings"], "row_volume")
    assert (volume["severity"], volume["relation"], volume["before"], volume["after"]) == ("error", "mini.main.city_scores", 3, 1)
    assert "from 3 to 1 rows" in volume["message"]

    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "execution_mode.yml").write_text("validate:\n  row_count_change: 0.9\n  row_count_warn: 0.7\n")
    res = adp_validate(project, "--config-dir", str(loose))
    assert res.returncode == 0, res.stdout
    assert by_check(res.json()["findings"], "row_volume") == []
    assert [f.severity for f in validate(ws) if f.check == "row_volume"] == ["error"]  # library, default config

    res = adp_validate(project, "--accept")  # the change was intended: it becomes the baseline
    assert res.returncode == 0 and res.json()["status"] == "accepted"
    assert adp_validate(project).json() == {"status": "ok", "findings": []}


@pytest.mark.dbt
def test_a_column_that_becomes_all_null_is_an_error(warm_project):
    project = warm_project("mini")
    green_baseline(project)
    sql = project / MART
    sql.write_text(sql.read_text().replace("sum(score) as total_score", "cast(null as hugeint) as total_score"))
    rebuild(project)

    res = adp_validate(project)
    assert res.returncode == 1
    (nulls,) = by_check(res.json()["findings"], "null_rate")
    assert (nulls["severity"], nulls["column"], nulls["before"], nulls["after"]) == ("error", "total_score", 0.0, 1.0)
    assert "became all NULL" in nulls["message"]
    assert by_check(res.json()["findings"], "row_volume") == []


@pytest.mark.dbt
def test_a_relation_that_disappeared_and_a_retyped_column(warm_project):
    project = warm_project("mini")
    ws = green_baseline(project)
    with duckdb.connect(str(project / "mini.duckdb")) as con:
        con.execute("drop table main.city_scores")
        con.execute("create or replace view main.stg_people as select person_id::varchar as person_id, full_name, city, score, 1 as extra from main.people")
    findings = {(f.check, f.severity, f.relation, f.column) for f in validate(ws)}
    assert ("relation_presence", "error", "mini.main.city_scores", None) in findings
    assert ("column_schema", "warn", "mini.main.stg_people", "person_id") in findings
    assert ("column_schema", "info", "mini.main.stg_people", "extra") in findings


@pytest.mark.dbt
def test_snapshot_keeps_rows_nulls_ranges_tests_and_lineage(warm_project):
    project = warm_project("mini")
    ws = green_baseline(project)
    with HistoryDB(ws.log_dir, read_only=True) as db:
        run_id = db.last_good_run()
        snap = db.snapshot(run_id)
        tests = db.test_statuses(run_id)
        lineage = {n.unique_id: n.parents for n in db.lineage()}
    seed = snap["seed.mini.people"]
    assert (seed.kind, seed.row_count) == ("table", 4)
    assert (seed.column("score").min_value, seed.column("score").max_value, seed.column("score").null_count) == ("10", "40", 0)
    view = snap["model.mini.stg_people"]
    assert view.kind == "view" and view.row_count is None and [c.name for c in view.columns][:2] == ["person_id", "full_name"]
    assert tests and set(s for s, _ in tests.values()) == {"pass"}
    assert lineage == {"seed.mini.people": [], "model.mini.stg_people": ["seed.mini.people"],
                       "model.mini.city_scores": ["model.mini.stg_people"]}


@pytest.mark.dbt
def test_bad_validate_config_is_a_usage_error_naming_file_and_key(warm_project, tmp_path):
    project = warm_project("mini")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "execution_mode.yml").write_text("validate:\n  row_count_warn: lots\n")
    res = adp_validate(project, "--config-dir", str(bad))
    assert res.returncode == 2
    assert "execution_mode.yml" in res.stderr and "validate.row_count_warn" in res.stderr


# -- the checks on their own (no dbt) ---------------------------------------------------------------


def table(rows: int, **nulls: int) -> RelationProfile:
    cols = [ColumnProfile(name, "INTEGER", n) for name, n in (nulls or {"id": 0}).items()]
    return RelationProfile("model.p.t", "model", "db.main.t", "table", rows, cols)


def run_checks(before, after, config=Validate(), now=None, loaded_at=None):
    ctx = Context(config, now or datetime.now(timezone.utc))
    pair = Pair("model.p.t", before, after, True, loaded_at)
    return [(f.check, f.severity) for check in CHECKS for f in check(pair, ctx)]


@pytest.mark.parametrize(
    "before, after, warn, error, expected",
    [
        (100, 100, 0.2, 0.5, []),
        (100, 85, 0.2, 0.5, []),  # -15% is under the warning threshold
        (100, 70, 0.2, 0.5, [("row_volume", "warn")]),
        (100, 130, 0.2, 0.5, [("row_volume", "warn")]),  # growth counts as much as loss
        (100, 40, 0.2, 0.5, [("row_volume", "error")]),
        (100, 160, 0.2, 0.5, [("row_volume", "error")]),
        (100, 40, 0.7, 0.9, []),  # loose thresholds let the same change pass
        (100, 95, 0.01, 0.04, [("row_volume", "error")]),  # strict ones flag a small change
        (0, 5, 0.2, 0.5, [("row_volume", "error")]),
    ],
)
def test_row_volume_thresholds_work_both_ways(before, after, warn, error, expected):
    config = Validate(row_count_warn=warn, row_count_change=error)
    assert run_checks(table(before), table(after), config) == expected


@pytest.mark.parametrize(
    "before_nulls, after_nulls, config, expected",
    [
        (0, 0, Validate(), []),
        (0, 3, Validate(), []),  # 3% rise is under null_rate_warn (5%)
        (0, 10, Validate(), [("null_rate", "warn")]),
        (0, 30, Validate(), [("null_rate", "error")]),
        (0, 30, Validate(null_rate_increase=0.5, null_rate_warn=0.4), []),
        (0, 100, Validate(null_rate_increase=1.0, null_rate_warn=1.0), [("null_rate", "error")]),  # all NULL always errs
        (100, 100, Validate(), []),  # was already all NULL
        (50, 10, Validate(), []),  # fewer NULLs is fine
    ],
)
def test_null_rate_thresholds(before_nulls, after_nulls, config, expected):
    assert run_checks(table(100, v=before_nulls), table(100, v=after_nulls), config) == expected


def test_source_freshness_from_loaded_at():
    now = datetime(2024, 6, 2, 12, 0, tzinfo=timezone.utc)
    loaded = (now - timedelta(hours=30)).strftime("%Y-%m-%d %H:%M:%S")
    src = RelationProfile("source.p.raw.t", "source", "db.raw.t", "table", 5,
                          [ColumnProfile("_loaded_at", "TIMESTAMP", 0, loaded, loaded)])
    pair = Pair("source.p.raw.t", src, src, True)
    stale = [f for check in CHECKS for f in check(pair, Context(Validate(freshness_hours=24), now))]
    assert [(f.check, f.severity, f.column) for f in stale] == [("source_freshness", "warn", "_loaded_at")]
    fresh = [f for check in CHECKS for f in check(pair, Context(Validate(freshness_hours=48), now))]
    assert fresh == []
    renamed = replace(src, columns=[ColumnProfile("loaded", "TIMESTAMP", 0, loaded, loaded)])
    custom = Pair("source.p.raw.t", renamed, renamed, True, loaded_at_field="loaded")
    assert [f.check for check in CHECKS for f in check(custom, Context(Validate(), now))] == ["source_freshness"]


def test_tests_that_change_from_pass_to_warn_or_fail():
    before = {"test.p.a": ("pass", 0), "test.p.b": ("pass", 0), "test.p.c": ("warn", 2), "test.p.d": ("pass", 0)}
    after = {"test.p.a": ("warn", 3), "test.p.b": ("fail", 1), "test.p.c": ("warn", 2), "test.p.d": ("pass", 0)}
    found = {(f.relation, f.severity, f.before, f.after) for f in changed_tests(before, after)}
    assert found == {("test.p.a", "warn", "pass", "warn"), ("test.p.b", "error", "pass", "fail")}


def test_history_keeps_the_newest_snapshots(tmp_path):
    with HistoryDB(tmp_path) as db:
        for i in range(5):
            db.con.execute("insert into runs values (?, timestamp '2024-01-01' + to_days(?))", [f"r{i}", i])
            db.con.execute("insert into relations values (?, 'model.p.a', 'model', 'db.main.a', 'table', 1)", [f"r{i}"])
        assert db.prune(2) == 3
        assert db.good_runs() == ["r3", "r4"] and db.last_good_run() == "r4"
        assert db.con.execute("select count(*) from relations").fetchone()[0] == 2

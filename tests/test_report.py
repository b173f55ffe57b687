"""The HTML report rendered from a run log and a history DB (no browser here; see test_report_browser.py)."""
from __future__ import annotations

import re
from pathlib import Path

from adp.history_db import HistoryDB, LineageNode
from adp.report import render
from adp.report.data import collect
from adp.report.lineage import layers
from adp.runlog import RunLog

DIFF = "--- a/models/m.sql\n+++ b/models/m.sql\n@@ -1 +1 @@\n-select amout from t\n+select amount from t\n"


def write_log(log_dir: Path) -> None:
    ok = RunLog(log_dir, "20240101T000000-aaaaaa")
    ok.emit("run_started", project_dir="/p")
    ok.emit("node_finished", node="model.p.a", status="success", execution_time=1.5)
    ok.emit("run_finished", status="success", attempts=1, duration=3.0, failed_nodes=0)

    healed = RunLog(log_dir, "20240102T000000-bbbbbb")
    healed.emit("run_started", project_dir="/p")
    healed.emit("node_finished", node="model.p.b", status="error", execution_time=0.2, file="models/b.sql",
                message="Binder Error: column <amout> not found")
    healed.emit("diagnosis", category="unknown_column", node="model.p.b", file="models/b.sql", line=1,
                summary="`amout` is not a column", evidence=["Candidate bindings: amount"])
    healed.emit("fix_proposed", proposal={"id": "p1", "rule": "rename_column", "confidence": 0.9, "diff": DIFF,
                                          "edits": [{"path": "models/b.sql", "old": "amout", "new": "amount"}]})
    healed.emit("fix_applied", proposal_id="p1", rule="rename_column", file="models/b.sql", diff=DIFF, approved_by="human")
    healed.emit("rollback", proposal_id="p0", reason="the fix did not build")
    healed.emit("retry", attempt=2, delay=5.0, reason="database is locked")
    healed.emit("validation", findings=[{"severity": "error", "relation": "db.main.b", "column": None, "before": 10,
                                         "after": 2, "message": "`db.main.b` went from 10 to 2 rows (-80.0%)."}])
    healed.emit("node_finished", node="model.p.b", status="success", execution_time=0.4)
    healed.emit("run_finished", status="healed", attempts=2, duration=12.5, failed_nodes=0)

    odd = RunLog(log_dir, "20240103T000000-cccccc")  # events with fields missing, as an older adp might write
    odd.emit("run_started")
    odd.emit("fix_applied")
    odd.emit("diagnosis", diagnosis={"category": "parse"})
    odd.emit("validation", findings=None)
    odd.emit("node_finished", status="error")
    odd.emit("dbt_finished", error="Compilation Error: <script>alert(1)</script>")
    with (log_dir / "pipeline_runs.log").open("a") as fh:
        fh.write('{"torn line\n[1, 2]\n')


def test_report_shows_every_run_and_each_failure_with_its_diff(tmp_path):
    write_log(tmp_path)
    data = collect(tmp_path)
    html = render(data, project="/p")
    rows = re.findall(r'<tr class="run" data-run-id="([^"]+)" data-status="([^"]+)"', html)
    assert sorted(rows) == [("20240101T000000-aaaaaa", "success"), ("20240102T000000-bbbbbb", "healed"),
                            ("20240103T000000-cccccc", "running")]
    detail = html[html.index('id="run-20240102T000000-bbbbbb"'):]
    detail = detail[: detail.index("</article>")]
    assert '<span class="del">-select amout from t</span>' in detail
    assert '<span class="add">+select amount from t</span>' in detail
    assert "approved by <b>human</b>" in detail and "Rolled back" in detail and "database is locked" in detail
    assert "went from 10 to 2 rows" in detail and "Candidate bindings: amount" in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert 'id="run-20240101T000000-aaaaaa"' not in html  # a plain green run needs no detail section
    assert data.node_status == {"model.p.a": "success", "model.p.b": "success"}


def test_report_is_self_contained(tmp_path):
    write_log(tmp_path)
    html = render(collect(tmp_path))
    assert not re.search(r'(src|href|url)\s*[=(]\s*["\']?(https?:)?//', html)
    assert "<link" not in html and "<script src" not in html and "@import" not in html
    assert "default-src 'none'" in html  # the page may not load anything, even by mistake


def test_report_of_an_empty_workspace(tmp_path):
    html = render(collect(tmp_path / "logs"))
    assert "No runs in the log yet" in html and "No lineage yet" in html
    assert not (tmp_path / "logs" / "history.duckdb").exists()


def test_rows_over_time_and_lineage_come_from_the_history_db(tmp_path):
    with HistoryDB(tmp_path) as db:
        db.save_lineage([
            LineageNode("seed.p.s", "s", "seed", "seeds/s.csv", []),
            LineageNode("model.p.a", "a", "model", "models/a.sql", ["seed.p.s"]),
            LineageNode("model.p.b", "b", "model", "models/b.sql", ["model.p.a", "seed.p.s"]),
        ])
        for i, rows in enumerate([10, 12, 3]):
            db.con.execute("insert into runs values (?, timestamp '2024-01-01' + to_days(?))", [f"r{i}", i])
            db.con.execute("insert into relations values (?, 'model.p.a', 'model', 'db.main.a', 'table', ?)", [f"r{i}", rows])
    data = collect(tmp_path)
    assert data.row_counts == {"db.main.a": [("r0", 10), ("r1", 12), ("r2", 3)]}
    assert layers(data.lineage) == {"seed.p.s": 0, "model.p.a": 1, "model.p.b": 2}
    html = render(data)
    assert html.count('data-kind="model"') == 2 and html.count('class="edge"') == 3
    assert "3 rows (min 3, max 12)" in html



# -- the tests table, test-coloured lineage, node timeline and decisions (issue 19) -----------------

import json  # noqa: E402
from datetime import datetime  # noqa: E402

import pytest  # noqa: E402

from adp.history_db import DataTestMeta, NodeSpan  # noqa: E402
from adp.report.artifacts import record_artifacts  # noqa: E402
from adp.report.data_tests import MAX_TESTS  # noqa: E402
from adp.report.timeline import tick_label, tick_step, timeline_svg  # noqa: E402
from conftest import run_adp  # noqa: E402

UNIQUE = "test.p.unique_a_id.1a2b"
NOT_NULL = "test.p.not_null_a_id.3c4d"


def write_test_runs(log_dir: Path) -> list[str]:
    """Three runs of two tests on model.p.a; the unique test fails in the last, with a failed-row sample."""
    ids = []
    for i, unique in enumerate(("pass", "fail", "fail")):
        run_id = f"2024010{i + 1}T000000-{i:06x}"
        ids.append(run_id)
        log = RunLog(log_dir, run_id)
        log.emit("run_started", project_dir="/p")
        log.emit("node_finished", node="model.p.a", status="success", execution_time=0.1)
        log.emit("node_finished", node=UNIQUE, status=unique, failures=0 if unique == "pass" else 2,
                 message=None if unique == "pass" else "Got 2 results, configured to fail if != 0")
        log.emit("node_finished", node=NOT_NULL, status="pass", failures=0)
        if unique == "fail":
            log.emit("failed_rows_sampled", node=UNIQUE, query="select id, count(*) from a group by id having count(*) > 1",
                     columns=["id", "n"], rows=[[7, 2], [None, 3]])
        for _ in range(3):  # each attempt re-diagnoses the same failure
            log.emit("diagnosis", category="test_failure", node=UNIQUE, summary="`unique_a_id` found duplicates")
        log.emit("fix_rejected", proposal_id="p9", rule="dedupe", by="human")
        log.emit("fix_refused", proposal_id="p8", rule="loosen_test", reason="a fix may not weaken a test")
        log.emit("proposal_superseded", proposal_id="p7", rule="dedupe", reason="a newer proposal replaces it")
        log.emit("rollback", proposal_id="p6", rule="dedupe", reason="verification failed: 2 rows still duplicated")
        log.emit("run_finished", status="failed", attempts=1, duration=1.0, failed_nodes=1)
    (log_dir / "findings").mkdir(parents=True)
    (log_dir / "findings" / f"{ids[-1]}.md").write_text("# findings\n")
    with HistoryDB(log_dir) as db:
        db.save_lineage([LineageNode("model.p.a", "a", "model", "models/a.sql", []),
                         LineageNode("model.p.b", "b", "model", "models/b.sql", ["model.p.a"])])
        db.save_test_meta([DataTestMeta(UNIQUE, "unique_a_id", "unique", "model.p.a", "id"),
                           DataTestMeta(NOT_NULL, "not_null_a_id", "not_null", "model.p.a", "id")])
    return ids


def test_tests_table_shows_status_model_column_history_and_failed_rows(tmp_path):
    ids = write_test_runs(tmp_path)
    data = collect(tmp_path)
    assert data.tests_run == ids[-1]
    unique, not_null = data.tests
    assert (unique.unique_id, unique.status, unique.failures, unique.model, unique.column, unique.test_type) == (
        UNIQUE, "fail", 2, "model.p.a", "id", "unique")
    assert [s for _, s in unique.history] == ["pass", "fail", "fail"] and not_null.status == "pass"
    assert unique.sample.columns == ["id", "n"] and unique.sample.rows == [[7, 2], [None, 3]]
    assert not_null.sample is None
    html = render(data)
    table = html[html.index('id="tests-table"'):html.index('id="node-timeline"')]
    rows = re.findall(r'<tr class="test" data-id="([^"]+)" data-status="([^"]+)"', table)
    assert rows == [(UNIQUE, "fail"), (NOT_NULL, "pass")]
    assert "<th>id</th><th>n</th>" in table and "<td>7</td><td>2</td>" in table and "<td>null</td>" in table
    assert "having count(*) &gt; 1" in table and "Got 2 results" in table
    assert table.count('class="h-fail"') == 1 and 'M8 2h7v10h-7z' in table  # two fail squares in one path


def test_lineage_node_takes_the_colour_of_its_failed_test(tmp_path):
    write_test_runs(tmp_path)
    html = render(collect(tmp_path))
    a = re.search(r'<g class="node kind-model ([^"]+)" [^>]*data-id="model.p.a"[^>]*>', html)
    b = re.search(r'<g class="node kind-model ([^"]+)" [^>]*data-id="model.p.b"', html)
    assert a.group(1) == "st-error tests-error" and 'data-tests="fail"' in a.group(0)
    assert b.group(1) == "st-none"  # not run, and no tests
    assert 'class="tmark"' in html and "tests: fail (unique_a_id)" in html


def test_decisions_reasons_findings_links_and_collapsed_diagnoses(tmp_path):
    ids = write_test_runs(tmp_path)
    html = render(collect(tmp_path))
    detail = html[html.index(f'id="run-{ids[-1]}"'):]
    detail = detail[: detail.index("</article>")]
    assert detail.count("Diagnosis: test_failure") == 1 and "×3" in detail
    assert "Proposal rejected</span>\n        dedupe p9 by <b>human</b>" in detail
    assert "Fix refused" in detail and "a fix may not weaken a test" in detail
    assert "Proposal superseded" in detail and "a newer proposal replaces it" in detail
    assert "Rolled back</span> dedupe p6: verification failed: 2 rows still duplicated" in detail
    assert f'href="findings/{ids[-1]}.md"' in detail
    assert html.count('class="findings-link"') == 2  # the timeline row and the detail of the run that has one
    assert f'href="findings/{ids[0]}.md"' not in html


def test_tests_table_is_capped(tmp_path):
    log = RunLog(tmp_path, "20240101T000000-aaaaaa")
    log.emit("run_started", project_dir="/p")
    for i in range(MAX_TESTS + 30):
        log.emit("node_finished", node=f"test.p.t{i:04d}.x", status="fail" if i == 520 else "pass", failures=int(i == 520))
    data = collect(tmp_path)
    html = render(data)
    assert len(data.tests) == MAX_TESTS + 30 and data.tests[0].unique_id == "test.p.t0520.x"  # failures first
    assert html.count('<tr class="test"') == MAX_TESTS and "30 more tests" in html


def test_timeline_axis_and_labels():
    assert [tick_step(t) for t in (0.05, 3.2, 40, 600)] == [0.01, 0.5, 5, 120]
    assert [tick_label(v, s) for v, s in ((2.5, 0.5), (30, 5), (150, 30), (120, 60))] == ["2.5 s", "30 s", "2m 30s", "2m"]
    t = datetime(2024, 1, 1)
    long = "model.p." + "very_long_model_name_" * 4
    spans = [NodeSpan(long, "success", "Thread-1", t, t.replace(second=3)),
             NodeSpan("test.p.unique_a_id.1a2b", "fail", "Thread-2", t.replace(second=3), t.replace(second=4))]
    svg = timeline_svg(spans)
    labels = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', svg)
    assert labels == [("model " + "very_long_model_name_" * 4)[:43] + "…", "test unique_a_id"]
    assert all(len(label) <= 44 for label in labels)
    ticks = re.findall(r'<text class="tick" x="([\d.]+)" y="14" text-anchor="middle">([^<]+)</text>', svg)
    assert [v for _, v in ticks] == ["0.0 s", "0.5 s", "1.0 s", "1.5 s", "2.0 s", "2.5 s", "3.0 s", "3.5 s", "4.0 s"]
    xs = [float(x) for x, _ in ticks]
    assert min(b - a for a, b in zip(xs, xs[1:])) > 50  # labels of ~40 px never touch
    assert 'class="span st-error"' in svg and "from +3.00 s on Thread-2" in svg


@pytest.mark.dbt
def test_real_run_stores_timing_and_test_meta_and_reports_the_failed_test(warm_project):
    project = warm_project("mini")
    seed = project / "seeds/people.csv"
    seed.write_text(seed.read_text() + "1,Eve,Faro,50\n")  # a duplicate person_id: unique fails, the model builds
    res = run_adp("run", "--no-heal", "--json", "--project-dir", ".", "--profiles-dir", ".", cwd=project)
    assert res.returncode == 1, res.stderr
    run_id = res.json()["run_id"]
    logs = project / "logs"
    results = json.loads((project / "target/run_results.json").read_text())
    with HistoryDB(logs, read_only=True) as db:
        run, invocation, spans = db.latest_timings()
        meta = db.test_meta([r["unique_id"] for r in results["results"]])
    assert (run, invocation) == (run_id, results["metadata"]["invocation_id"])
    assert {s.unique_id for s in spans} == {r["unique_id"] for r in results["results"] if r["timing"]}
    assert all(s.completed_at >= s.started_at for s in spans)
    unique = next(m for m in meta.values() if m.test_type == "unique" and m.model == "model.mini.stg_people")
    assert unique.column_name == "person_id" and len(meta) == 3
    assert record_artifacts(project / "target", logs)  # a second report stores nothing new

    html = (logs / "report.html").read_text()
    rows = dict(re.findall(r'<tr class="test" data-id="([^"]+)" data-status="([^"]+)"', html))
    assert rows[unique.unique_id] == "fail" and len(rows) == 3
    node = re.search(r'<g class="node kind-model ([^"]+)" [^>]*data-id="model.mini.stg_people"', html)
    assert node.group(1) == "st-error tests-error"  # the view built, its unique test failed
    assert html.count('<g class="span ') == len(spans) == 4  # seed, stg_people, its 2 tests (the rest skipped)


def test_run_duration_axis_labels_never_collide():
    from adp.report.charts import durations
    from adp.report.data import RunView
    from adp.runlog import RunSummary

    def runs(n: int) -> list[RunView]:
        return [RunView(RunSummary(f"r{i}", f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00.000+00:00", "success", 1, 2.0,
                                   0, 0, "/p")) for i in range(n)]

    def ticks(svg: str) -> list[str]:
        return re.findall(r'<text class="tick" x="[\d.]+" y="168"[^>]*>([^<]+)</text>', svg)

    assert ticks(durations(runs(3))) == ["2024-01-01 00:00"]  # too close for a second label
    assert ticks(durations(runs(40))) == ["2024-01-01 00:00", "00:39"]  # one day: the day once, then the time
    last = re.search(r'<text class="tick" x="([\d.]+)" y="168" text-anchor="end">00:39', durations(runs(40)))
    assert float(last.group(1)) == 44 + 40 * (960 - 48) / 40  # under the last bar, not at the far right of an empty axis


def test_artifacts_of_a_foreign_invocation_are_not_stored(tmp_path):
    target, logs = tmp_path / "target", tmp_path / "logs"
    target.mkdir()
    (target / "run_results.json").write_text(json.dumps({"metadata": {"invocation_id": "by-hand"}, "results": [
        {"unique_id": "model.p.a", "status": "success", "timing": [
            {"name": "execute", "started_at": "2024-01-01T00:00:00Z", "completed_at": "2024-01-01T00:00:01Z"}]}]}))
    (logs / "runs").mkdir(parents=True)
    (logs / "runs" / "20240101T000000-aaaaaa.json").write_text(json.dumps({"invocation_id": "adp-run"}))
    assert not record_artifacts(target, logs)  # a `dbt build` run by hand is no run of adp's
    assert not (logs / "history.duckdb").exists()
    (logs / "runs" / "20240101T000000-aaaaaa.json").write_text(json.dumps({"invocation_id": "by-hand"}))
    assert record_artifacts(target, logs)
    with HistoryDB(logs, read_only=True) as db:
        run, invocation, spans = db.latest_timings()
    assert (run, invocation, [s.unique_id for s in spans]) == ("20240101T000000-aaaaaa", "by-hand", ["model.p.a"])


def test_report_reads_a_history_db_written_before_timings_and_test_metadata(tmp_path):
    import duckdb

    write_test_runs(tmp_path)
    con = duckdb.connect(str(tmp_path / "history.duckdb"))
    con.execute("drop table node_timings; drop table test_meta")
    con.close()
    data = collect(tmp_path)
    assert data.timeline is None and [t.model for t in data.tests] == [None, None]
    assert "No node timing yet" in render(data)


def test_only_the_newest_invocations_keep_their_timing(tmp_path):
    from datetime import timedelta

    from adp.history_db import KEEP_TIMED_INVOCATIONS

    t = datetime(2024, 1, 1)
    with HistoryDB(tmp_path) as db:
        for i in range(KEEP_TIMED_INVOCATIONS + 5):
            end = t + timedelta(minutes=i)
            db.save_timings(f"r{i:02d}", f"inv{i:02d}", [NodeSpan("model.p.a", "success", None, end - timedelta(seconds=1), end)])
        kept = sorted(r[0] for r in db.con.execute("select distinct invocation_id from node_timings").fetchall())
        assert kept == [f"inv{i:02d}" for i in range(5, KEEP_TIMED_INVOCATIONS + 5)]
        assert db.latest_timings()[:2] == (f"r{KEEP_TIMED_INVOCATIONS + 4}", f"inv{KEEP_TIMED_INVOCATIONS + 4}")
        assert db.latest_timings(["r07"])[:2] == ("r07", "inv07")


def test_test_metadata_covers_unit_tests_and_tests_the_manifest_does_not_describe(tmp_path):
    target, logs = tmp_path / "target", tmp_path / "logs"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps({
        "nodes": {"test.p.not_null_a_id.1": {"resource_type": "test", "name": "not_null_a_id", "attached_node": "model.p.a",
                                             "column_name": "id", "test_metadata": {"name": "not_null", "kwargs": {}}},
                  "test.p.assert_positive": {"resource_type": "test", "name": "assert_positive",
                                             "depends_on": {"nodes": ["macro.p.m", "model.p.b"]}}},
        "unit_tests": {"unit_test.p.a.test_a": {"name": "test_a", "depends_on": {"nodes": ["model.p.a"]}}}}))
    ids = ["test.p.not_null_a_id.1", "test.p.assert_positive", "unit_test.p.a.test_a", "test.p.gone.2"]
    (target / "run_results.json").write_text(json.dumps({"metadata": {"invocation_id": "i1"},
                                                         "results": [{"unique_id": u, "status": "pass"} for u in ids]}))
    (logs / "runs").mkdir(parents=True)
    (logs / "runs" / "20240101T000000-aaaaaa.json").write_text(json.dumps({"invocation_id": "i1"}))
    assert record_artifacts(target, logs)
    with HistoryDB(logs, read_only=True) as db:
        meta = db.test_meta(ids)
    assert {u: (m.test_type, m.model, m.column_name) for u, m in meta.items()} == {
        "test.p.not_null_a_id.1": ("not_null", "model.p.a", "id"),
        "test.p.assert_positive": ("singular", "model.p.b", None),
        "unit_test.p.a.test_a": ("unit", "model.p.a", None),
        "test.p.gone.2": ("unknown", None, None),
    }

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


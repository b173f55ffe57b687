"""The run log: one complete JSON object per line, concurrent appends never interleave, history."""
from __future__ import annotations

import json
import multiprocessing

from adp.runlog import RunLog, history, read_events


def _writer(log_dir, run_id, n):
    log = RunLog(log_dir, run_id)
    for i in range(n):
        log.emit("node_finished", node=f"model.p.m{i}", message="x" * 5000)


def test_concurrent_writers_never_tear_lines(tmp_path):
    procs = [multiprocessing.Process(target=_writer, args=(tmp_path, f"r{i}", 200)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = (tmp_path / "pipeline_runs.log").read_text().splitlines()
    assert len(lines) == 600
    assert all(json.loads(line)["event"] == "node_finished" for line in lines)


def test_history_summarises_runs_and_skips_torn_lines(tmp_path):
    log = RunLog(tmp_path, "a")
    log.emit("run_started", project_dir="/p")
    log.emit("fix_applied", proposal_id="x")
    log.emit("run_finished", status="healed", attempts=2, duration=3.5, failed_nodes=0)
    with (tmp_path / "pipeline_runs.log").open("a") as fh:
        fh.write('{"ts": "torn')
    rows = history(tmp_path)
    assert len(rows) == 1
    assert (rows[0].status, rows[0].attempts, rows[0].fixes_applied, rows[0].duration) == ("healed", 2, 1, 3.5)
    assert [e["event"] for e in read_events(tmp_path, "a")] == ["run_started", "fix_applied", "run_finished"]

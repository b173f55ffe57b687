"""Transient failures are retried with capped, fully jittered exponential backoff; others are not."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import adp.heal.loop as heal
from adp.config import Retry
from adp.pipeline import BuildSpec, run_pipeline
from adp.workspace import Workspace


def test_delay_is_full_jitter_of_a_capped_exponential(monkeypatch):
    retry = Retry(base_delay_seconds=2, backoff_multiplier=3, max_delay_seconds=50)
    monkeypatch.setattr(heal, "rand", lambda: 1.0)
    assert [heal.backoff_delay(retry, a) for a in range(5)] == [2, 6, 18, 50, 50]
    monkeypatch.setattr(heal, "rand", lambda: 0.25)
    assert heal.backoff_delay(retry, 2) == 4.5


HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
con.close()
print("released", flush=True)
"""


def workspace(project: Path, tmp_path: Path, config: str) -> Workspace:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config/execution_mode.yml").write_text(config)
    return Workspace.open(project, project, config_dir=tmp_path / "config", log_dir=tmp_path / "logs")


@pytest.mark.dbt
def test_a_duckdb_lock_held_for_a_while_is_healed_by_waiting(warm_project, tmp_path, monkeypatch):
    project = warm_project("mini")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(project / "mini.duckdb")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    delays: list[float] = []

    def fake_sleep(seconds: float) -> None:  # stand-in for time: the holder lets go on the 2nd wait
        delays.append(seconds)
        if len(delays) == 2:
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "released\n"

    monkeypatch.setattr(heal, "sleep", fake_sleep)
    monkeypatch.setattr(heal, "rand", lambda: 1.0)
    ws = workspace(project, tmp_path, "retry:\n  base_delay_seconds: 1\n  backoff_multiplier: 4\n  max_delay_seconds: 3\n")
    outcome = run_pipeline(ws, BuildSpec(), mode="autonomous")
    holder.wait(timeout=30)
    assert outcome.status == "success" and outcome.exit_code == 0
    assert delays == [1.0, 3.0]  # base, then base*4 capped at 3
    events = (tmp_path / "logs/pipeline_runs.log").read_text()
    assert events.count('"event": "retry"') == 2
    assert outcome.diagnoses and outcome.diagnoses[0]["transient"] is True


@pytest.mark.dbt
def test_transient_retries_have_their_own_bounded_counter(warm_project, tmp_path, monkeypatch):
    project = warm_project("mini")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(project / "mini.duckdb")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    delays: list[float] = []
    monkeypatch.setattr(heal, "sleep", delays.append)
    try:
        ws = workspace(project, tmp_path, "retry:\n  max_transient_retries: 2\n  max_retries: 0\n")
        outcome = run_pipeline(ws, BuildSpec(), mode="autonomous")
    finally:
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert len(delays) == 2


@pytest.mark.dbt
def test_deterministic_errors_are_never_retried_blindly(warm_project, tmp_path, monkeypatch):
    project = warm_project("mini")
    model = project / "models/marts/finance/city_scores.sql"
    model.write_text(model.read_text().replace("sum(score)", "sum(scor)"))
    delays: list[float] = []
    monkeypatch.setattr(heal, "sleep", delays.append)
    ws = workspace(project, tmp_path, "execution:\n  mode: autonomous\n")
    outcome = run_pipeline(ws, BuildSpec(), heal=False)
    assert outcome.status == "failed" and delays == []
    assert outcome.diagnoses[0]["transient"] is False

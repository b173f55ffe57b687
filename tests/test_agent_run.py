"""`adp run --mode autonomous` with the headless agent on a fault no rule can fix (real dbt + DuckDB).

The agent command is the stand-in `claude` of test_agent.py on PATH: a good proposal heals the run,
a bad one is applied, fails verification and is rolled back, garbage or a timeout stops for a person.
"""
from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from conftest import run_adp
from test_agent import STANDIN, fenced

pytestmark = pytest.mark.dbt

MODEL = "models/marts/finance/city_scores.sql"
FAULT = ("sum(score)", "sum(points_total)")  # no column is close to `points_total`: no rule proposal


def agent_proposal(new: str) -> dict:
    return {"rule": "column_rename", "rationale": "the upstream column holding the score is `score`", "confidence": 0.6,
            "edits": [{"path": MODEL, "old": "sum(points_total)", "new": new}], "action": None, "needs_review": False}


def heal_with(warm_project, tmp_path: Path, mode: str, answer: str = "", timeout: float = 60):
    proj = warm_project("mini")
    original = (proj / MODEL).read_text()
    broken = original.replace(*FAULT)
    (proj / MODEL).write_text(broken)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text(STANDIN.format(python=sys.executable))
    (bin_dir / "claude").chmod(0o755 | stat.S_IEXEC)
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    (work / "config" / "execution_mode.yml").write_text(
        f"agent:\n  enabled: true\n  command: claude -p --output-format json\n  timeout_seconds: {timeout}\n"
        "retry:\n  max_retries: 2\n"
    )
    env = {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin", "STANDIN_MODE": mode,
           "STANDIN_ANSWER": answer, "STANDIN_CAPTURE": str(tmp_path / "capture.json")}
    res = run_adp("run", "--project-dir", str(proj), "--profiles-dir", str(proj), "--mode", "autonomous", "--json", cwd=work, env=env)
    events = [json.loads(line) for line in (work / "logs" / "pipeline_runs.log").read_text().splitlines()]
    return res, events, proj, original, broken


def test_a_good_agent_proposal_heals_the_run(warm_project, tmp_path):
    res, events, proj, original, _ = heal_with(warm_project, tmp_path, "good", fenced(agent_proposal("sum(score)")))
    out = res.json()
    assert res.returncode == 0, res.stderr[-2000:]
    assert out["status"] == "healed"
    [fix] = out["fixes"]
    assert fix["source"] == "agent" and fix["applied"] is True
    assert (proj / MODEL).read_text() == original
    assert any(e["event"] == "fix_applied" for e in events)
    assert any(e["event"] == "fix_proposed" and e.get("source") == "agent" for e in events)


def test_a_bad_agent_proposal_is_rolled_back(warm_project, tmp_path):
    res, events, proj, _, broken = heal_with(warm_project, tmp_path, "good", fenced(agent_proposal("sum(no_such_column)")))
    out = res.json()
    assert res.returncode != 0
    assert out["status"] in ("needs_review", "failed")
    assert any(f["source"] == "agent" and f["rolled_back"] for f in out["fixes"])
    assert (proj / MODEL).read_text() == broken  # restored byte for byte
    assert any(e["event"] == "rollback" for e in events)


@pytest.mark.parametrize("mode,reason", [("garbage", "holds no proposal JSON"), ("sleep", "timed out")])
def test_garbage_or_a_timeout_stops_for_a_person(warm_project, tmp_path, mode, reason):
    res, events, proj, _, broken = heal_with(warm_project, tmp_path, mode, timeout=2)
    assert res.returncode == 3, res.stderr[-2000:]
    assert res.json()["status"] == "needs_review"
    unavailable = [e for e in events if e["event"] == "agent_unavailable"]
    assert unavailable and reason in unavailable[0]["reason"]
    assert (proj / MODEL).read_text() == broken

"""A wrong proposal is applied, fails verification, and is restored byte for byte."""
from __future__ import annotations

import json

import pytest

from conftest import run_adp

pytestmark = pytest.mark.dbt


def test_a_wrong_proposal_is_rolled_back_byte_for_byte(warm_project, tmp_path):
    project = warm_project("mini")
    model = project / "models/marts/finance/city_scores.sql"
    model.write_bytes(model.read_bytes().replace(b"sum(score)", b"sum(scor)"))
    broken = model.read_bytes()
    first = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--no-heal", "--json", cwd=tmp_path)
    assert first.returncode == 1
    wrong = {
        "rule": "agent",
        "rationale": "a deliberately wrong guess",
        "confidence": 0.99,
        "edits": [{"path": "models/marts/finance/city_scores.sql", "old": "sum(scor)", "new": "sum(scoore)"}],
        "node": "model.mini.city_scores",
    }
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    res = run_adp(
        "fix", "apply", "--file", str(tmp_path / "wrong.json"), "--project-dir", str(project), "--profiles-dir", str(project),
        "--mode", "human-in-loop", "--json", cwd=tmp_path,
    )
    out = res.json()
    tried = [f for f in out["fixes"] if f["rule"] == "agent"]
    assert tried and tried[0]["rolled_back"] and not tried[0]["applied"]
    assert res.returncode == 3  # then the rule engine's own proposal awaits a person
    assert model.read_bytes() == broken
    kinds = [json.loads(line)["event"] for line in (tmp_path / "logs/pipeline_runs.log").read_text().splitlines()]
    assert kinds.index("fix_applied") < kinds.index("rollback")


def test_backups_are_not_kept_after_a_heal_when_create_backups_is_off(warm_project, tmp_path):
    project = warm_project("mini")
    model = project / "models/marts/finance/city_scores.sql"
    model.write_text(model.read_text().replace("sum(score)", "sum(scor)"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config/execution_mode.yml").write_text("autonomous:\n  create_backups: false\n")
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "autonomous", "--json", cwd=tmp_path)
    out = res.json()
    assert res.returncode == 0 and out["status"] == "healed" and out["backups_dir"] is None
    assert not (tmp_path / "logs/backups" / out["run_id"]).exists()
    assert "sum(score)" in model.read_text()

"""Human-in-loop: a TTY asks `Apply? [y/N]`; without a TTY a proposal is written and adp exits 3."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_adp

pytestmark = pytest.mark.dbt

TYPO = ("sum(score)", "sum(scor)")


def break_model(project: Path) -> Path:
    model = project / "models/marts/finance/city_scores.sql"
    model.write_text(model.read_text().replace(*TYPO))
    return model


def run_in_pty(args: list[str], cwd: Path, answer: str) -> tuple[int, str]:
    """Run the real CLI on a pseudo-terminal; answer the first `Apply?` prompt with `answer`."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "adp", *args])
    screen, answered = b"", False
    while True:
        ready, _, _ = select.select([fd], [], [], 300)
        if not ready:
            os.kill(pid, 9)
            raise AssertionError("no output for 300 s:\n" + screen.decode(errors="replace"))
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
        if not answered and b"Apply?" in screen:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


def test_tty_yes_applies_the_fix(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    code, screen = run_in_pty(["run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "human-in-loop"], tmp_path, "y")
    assert "Apply?" in screen and "confidence" in screen and "+" in screen
    assert code == 0, screen[-3000:]
    assert TYPO[0] in model.read_text()
    assert "HEALED" in screen


def test_tty_no_leaves_the_file_and_stops_for_a_person(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    broken = model.read_text()
    code, screen = run_in_pty(["run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "human-in-loop"], tmp_path, "n")
    assert code == 3, screen[-3000:]
    assert model.read_text() == broken
    assert "findings" in screen


def test_without_a_tty_a_proposal_is_saved_and_fix_apply_finishes_the_heal(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    broken = model.read_text()
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "human-in-loop", "--json", cwd=tmp_path)
    assert res.returncode == 3
    out = res.json()
    assert out["status"] == "needs_review" and len(out["proposals"]) == 1
    assert model.read_text() == broken
    proposal = json.loads(Path(out["proposals"][0]).read_text())
    pid = proposal["proposal"]["id"]
    assert Path(out["proposals"][0]).with_suffix(".diff").read_text().count("scor") >= 1
    listed = run_adp("fix", "list", "--json", cwd=tmp_path).json()
    assert [p["proposal"]["id"] for p in listed] == [pid]
    done = run_adp("fix", "apply", pid, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.json()["status"] == "healed"
    assert TYPO[0] in model.read_text()
    assert list((tmp_path / "logs/backups" / out["run_id"]).rglob("city_scores.sql"))
    assert run_adp("fix", "list", "--json", cwd=tmp_path).json() == []
    kinds = [json.loads(line)["event"] for line in (tmp_path / "logs/pipeline_runs.log").read_text().splitlines()]
    assert "proposal_saved" in kinds and "fix_applied" in kinds and kinds[-1] == "run_finished"


def test_a_rejected_proposal_is_never_applied(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    broken = model.read_text()
    out = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "human-in-loop", "--json", cwd=tmp_path).json()
    pid = json.loads(Path(out["proposals"][0]).read_text())["proposal"]["id"]
    assert run_adp("fix", "reject", pid, cwd=tmp_path).returncode == 0
    res = run_adp("fix", "apply", pid, cwd=tmp_path)
    assert res.returncode != 0 and model.read_text() == broken

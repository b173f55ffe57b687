"""Safe apply: paths inside the project, exact-once edits, fresh hashes, backups, rollback, crash safety."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adp.apply import apply_fix, rollback, rollback_run, sha256_file
from adp.errors import FixError
from adp.models import Edit, FixProposal
from adp.project import DbtProject
from adp.runlog import RunLog


@pytest.fixture
def project(tmp_path) -> DbtProject:
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    (root / "models/a.sql").write_text("select frist_name from t\n")
    return DbtProject.open(root)


def proposal(project: DbtProject, edits: list[Edit], pid: str = "p1") -> FixProposal:
    shas = {e.path: sha256_file(project.project_dir / e.path) for e in edits if (project.project_dir / e.path).is_file()}
    return FixProposal(id=pid, rule="test", diagnosis_category="sql.column_not_found", rationale="r", confidence=0.9, edits=edits, file_sha256=shas)


def test_apply_backs_up_writes_and_records_a_patch(project, tmp_path):
    log = RunLog(tmp_path / "logs", "run1")
    applied = apply_fix(project, proposal(project, [Edit("models/a.sql", "frist_name", "first_name")]), tmp_path / "logs", log, "autonomous")
    assert (project.project_dir / "models/a.sql").read_text() == "select first_name from t\n"
    assert (applied.backup_dir / "models/a.sql").read_text() == "select frist_name from t\n"
    patch = (tmp_path / "logs/fixes/run1.patch").read_text()
    assert "-select frist_name from t" in patch and "+select first_name from t" in patch
    rollback(project, applied, log, "test")
    assert (project.project_dir / "models/a.sql").read_text() == "select frist_name from t\n"
    events = (tmp_path / "logs/pipeline_runs.log").read_text()
    assert '"event": "fix_applied"' in events and '"event": "rollback"' in events


def test_patch_applies_with_git_apply(project, tmp_path):
    original = (project.project_dir / "models/a.sql").read_bytes()
    log = RunLog(tmp_path / "logs", "run1")
    apply_fix(project, proposal(project, [Edit("models/a.sql", "frist_name", "first_name")]), tmp_path / "logs", log, "human")
    fixed = (project.project_dir / "models/a.sql").read_bytes()
    (project.project_dir / "models/a.sql").write_bytes(original)
    subprocess.run(["git", "apply", str(tmp_path / "logs/fixes/run1.patch")], cwd=project.project_dir, check=True)
    assert (project.project_dir / "models/a.sql").read_bytes() == fixed


@pytest.mark.parametrize("path", ["../outside.sql", "/etc/passwd", "models/../../x.sql"])
def test_paths_outside_the_project_are_refused(project, tmp_path, path):
    p = FixProposal(id="x", rule="t", diagnosis_category="c", rationale="", confidence=1.0, edits=[Edit(path, "a", "b")])
    with pytest.raises(FixError, match="inside the dbt project|outside"):
        apply_fix(project, p, tmp_path / "logs", RunLog(tmp_path / "logs", "r"), "autonomous")


def test_symlink_escape_is_refused(project, tmp_path):
    outside = tmp_path / "secret.sql"
    outside.write_text("select 1\n")
    (project.project_dir / "models/link.sql").symlink_to(outside)
    p = FixProposal(id="x", rule="t", diagnosis_category="c", rationale="", confidence=1.0, edits=[Edit("models/link.sql", "1", "2")])
    with pytest.raises(FixError, match="is a symlink"):
        apply_fix(project, p, tmp_path / "logs", RunLog(tmp_path / "logs", "r"), "autonomous")
    assert outside.read_text() == "select 1\n"


def test_old_text_must_occur_exactly_once(project, tmp_path):
    (project.project_dir / "models/a.sql").write_text("select x, x from t\n")
    with pytest.raises(FixError, match="occurs 2 times"):
        apply_fix(project, proposal(project, [Edit("models/a.sql", "x", "y")]), tmp_path / "logs", RunLog(tmp_path / "logs", "r"), "autonomous")


def test_stale_proposal_is_refused(project, tmp_path):
    p = proposal(project, [Edit("models/a.sql", "frist_name", "first_name")])
    (project.project_dir / "models/a.sql").write_text("select frist_name from t -- edited by the user\n")
    with pytest.raises(FixError, match="changed since"):
        apply_fix(project, p, tmp_path / "logs", RunLog(tmp_path / "logs", "r"), "autonomous")
    assert "edited by the user" in (project.project_dir / "models/a.sql").read_text()


def test_rollback_run_restores_the_oldest_backup_of_each_file(project, tmp_path):
    log = RunLog(tmp_path / "logs", "20260101T120000-abc123")
    log.emit("run_started", project_dir=str(project.project_dir))
    original = (project.project_dir / "models/a.sql").read_bytes()
    apply_fix(project, proposal(project, [Edit("models/a.sql", "frist_name", "first_name")], "p1"), tmp_path / "logs", log, "autonomous")
    apply_fix(project, proposal(project, [Edit("models/a.sql", "from t", "from u")], "p2"), tmp_path / "logs", log, "autonomous")
    assert rollback_run(project, tmp_path / "logs", "20260101T120000-abc123", log) == ["models/a.sql"]
    assert (project.project_dir / "models/a.sql").read_bytes() == original


CHILD = """
import sys
from adp.apply import apply_fix
from adp.models import Edit, FixProposal
from adp.project import DbtProject
from adp.runlog import RunLog
from pathlib import Path
project = DbtProject.open(sys.argv[1])
old, new = Path(sys.argv[2]).read_text(), Path(sys.argv[3]).read_text()
p = FixProposal(id="big", rule="t", diagnosis_category="c", rationale="", confidence=1.0, edits=[Edit("models/big.sql", old, new)])
print("go", flush=True)
apply_fix(project, p, Path(sys.argv[4]), RunLog(Path(sys.argv[4]), "crash"), "autonomous")
"""


def test_kill_9_during_apply_never_leaves_a_half_written_file(project, tmp_path):
    old = "select 1 as a\n" * 200_000  # ~2.8 MB: writes take long enough for kills to land mid-way
    new = "select 2 as b\n" * 200_000
    (tmp_path / "old.txt").write_text(old)
    (tmp_path / "new.txt").write_text(new)
    target = project.project_dir / "models/big.sql"
    outcomes = set()
    for i in range(12):
        target.write_text(old)
        logs = tmp_path / f"logs{i}"
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(project.project_dir), str(tmp_path / "old.txt"), str(tmp_path / "new.txt"), str(logs)],
            stdout=subprocess.PIPE, text=True,
        )
        assert proc.stdout.readline() == "go\n"
        time.sleep(0.01 * i)  # stand-in for time: kill at a different point each round
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        text = target.read_text()
        assert text in (old, new), "half-written model file"
        backups = list(logs.glob("backups/crash/*/models/big.sql"))
        for b in backups:
            assert b.read_text() == old, "half-written backup"
        outcomes.add("new" if text == new else "old")
        if text == new:
            assert backups, "the file changed without a backup"

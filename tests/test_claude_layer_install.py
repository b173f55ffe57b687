"""`adp claude install` into a foreign dbt repo: what it copies, how it adjusts paths, what it refuses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_adp

REPO = Path(__file__).resolve().parents[1]


def foreign_repo(tmp_path: Path, sub: str | None = "analytics") -> Path:
    repo = tmp_path / "team-repo"
    proj = repo / sub if sub else repo
    proj.mkdir(parents=True)
    (proj / "dbt_project.yml").write_text("name: team\nversion: '1.0'\nconfig-version: 2\nprofile: team\n")
    (repo / "README.md").write_text("our repo\n")
    return repo


def install(repo: Path, *extra: str):
    return run_adp("claude", "install", "--project-dir", str(repo), "--json", *extra, cwd=repo)


def test_install_copies_the_layer_and_adjusts_the_dbt_path(tmp_path):
    repo = foreign_repo(tmp_path)
    res = install(repo)
    assert res.returncode == 0, res.stderr
    out = res.json()
    assert out["dbt_project_dir"] == "analytics"
    for rel in (
        ".claude/agents/pipeline-orchestrator.md",
        ".claude/agents/diagnostician.md",
        ".claude/skills/run-pipeline/SKILL.md",
        ".claude/skills/ingest/SKILL.md",
        "scripts/run_pipeline.py",
        "scripts/inspect_node.py",
        "scripts/_bootstrap.py",
        "docs/schemas/fix-proposal.schema.json",
    ):
        assert (repo / rel).is_file(), rel
        assert rel in out["written"]
    assert (repo / ".claude/agents/diagnostician.md").read_bytes() == (REPO / ".claude/agents/diagnostician.md").read_bytes()
    assert os.access(repo / "scripts" / "run_pipeline.py", os.X_OK)
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    assert settings["env"]["ADP_PROJECT_DIR"] == "analytics"
    assert "Edit(./analytics/**)" in settings["permissions"]["ask"]
    assert "Edit(./analytics/tests/**)" in settings["permissions"]["deny"]
    assert not any("./dbt/" in r for kind in settings["permissions"].values() for r in kind)
    manifest = json.loads((repo / ".claude" / "adp-install.json").read_text())
    assert set(manifest["files"]) == set(out["written"])
    assert (repo / "README.md").read_text() == "our repo\n"


def test_a_repo_whose_root_is_the_dbt_project(tmp_path):
    repo = foreign_repo(tmp_path, sub=None)
    assert install(repo).returncode == 0
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    assert settings["env"]["ADP_PROJECT_DIR"] == "."
    assert "Edit(./tests/**)" in settings["permissions"]["deny"]


def test_reinstall_is_idempotent_and_updates_only_its_own_untouched_files(tmp_path):
    repo = foreign_repo(tmp_path)
    assert install(repo).returncode == 0
    again = install(repo)
    assert again.returncode == 0
    assert again.json()["written"] == [] and again.json()["unchanged"]


def test_refuses_to_overwrite_a_file_it_did_not_write(tmp_path):
    repo = foreign_repo(tmp_path)
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text('{"permissions": {"allow": ["Bash(make:*)"]}}\n')
    res = install(repo)
    assert res.returncode == 2
    assert "refusing to overwrite" in res.stderr and "`.claude/settings.json`" in res.stderr
    assert not (repo / ".claude" / "agents").exists()  # nothing written
    assert (repo / ".claude" / "settings.json").read_text() == '{"permissions": {"allow": ["Bash(make:*)"]}}\n'
    forced = install(repo, "--force")
    assert forced.returncode == 0
    assert forced.json()["overwritten"] == [".claude/settings.json"]


def test_refuses_to_overwrite_a_file_the_user_changed_since(tmp_path):
    repo = foreign_repo(tmp_path)
    assert install(repo).returncode == 0
    skill = repo / ".claude" / "skills" / "run-pipeline" / "SKILL.md"
    skill.write_text(skill.read_text() + "\nour own note\n")
    res = install(repo)
    assert res.returncode == 2 and "run-pipeline/SKILL.md" in res.stderr
    assert skill.read_text().endswith("our own note\n")


def test_install_ignores_the_writer_lock_in_git_once(tmp_path):
    """`<db>.duckdb.adp.lock` beside the DuckDB file must not show in `git status`: install appends the
    pattern to the repo's .gitignore, keeps what was there, and does not append it twice."""
    repo = foreign_repo(tmp_path)
    (repo / ".gitignore").write_bytes(b"target/\n*.duckdb")  # no trailing newline
    res = install(repo)
    assert res.returncode == 0, res.stderr
    assert res.json()["gitignore_updated"] is True
    text = (repo / ".gitignore").read_text()
    assert text.startswith("target/\n*.duckdb\n") and text.splitlines().count("*.adp.lock") == 1
    assert ".gitignore" not in res.json()["written"]  # the user's file, not one adp owns
    again = install(repo)
    assert again.returncode == 0 and again.json()["gitignore_updated"] is False
    assert (repo / ".gitignore").read_text() == text
    lock = repo / "analytics" / "team.duckdb.adp.lock"
    lock.write_text("adp pid 1")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True, text=True, check=True)
    assert "adp.lock" not in status.stdout and "analytics/dbt_project.yml" in status.stdout


def test_install_creates_a_gitignore_when_there_is_none(tmp_path):
    repo = foreign_repo(tmp_path)
    assert install(repo).returncode == 0
    assert "*.adp.lock" in (repo / ".gitignore").read_text().splitlines()
    assert (repo / "README.md").read_text() == "our repo\n"


@pytest.mark.parametrize(
    "layout,message",
    [("none", "no dbt_project.yml"), ("two", "several dbt projects")],
)
def test_finding_the_dbt_project(tmp_path, layout, message):
    repo = tmp_path / "r"
    repo.mkdir()
    if layout == "two":
        for d in ("a", "b"):
            (repo / d).mkdir()
            (repo / d / "dbt_project.yml").write_text("name: x\n")
    res = install(repo)
    assert res.returncode == 2 and message in res.stderr
    assert res.returncode == 2 and "--dbt-dir" in res.stderr
    if layout == "two":
        assert install(repo, "--dbt-dir", "b").returncode == 0


@pytest.mark.dbt
def test_installed_scripts_work_in_the_foreign_repo(warm_project, tmp_path):
    """A built dbt project as the foreign repo: the installed inspect script finds it through settings' env."""
    repo = warm_project("mini")
    assert install(repo).returncode == 0
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    env = {**os.environ, **settings["env"]}
    proc = subprocess.run(
        [sys.executable, "scripts/inspect_node.py", "stg_people"], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    ctx = json.loads(proc.stdout)
    assert ctx["unique_id"] == "model.mini.stg_people"
    assert ctx["upstream"][0]["columns_from"] == "warehouse"
    assert [c["name"] for c in ctx["upstream"][0]["columns"]] == ["person_id", "full_name", "city", "score"]

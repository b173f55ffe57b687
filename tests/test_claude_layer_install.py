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
    return run_adp("claude", "install", "--repo", str(repo), "--json", *extra, cwd=repo)


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
        "scripts/permission_hook.py",  # named only by settings.json's PreToolUse hook
        "scripts/agent_bash_guard.py",
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
    error = json.loads(res.stdout)  # under --json the error is JSON on stdout
    assert error["exit_code"] == 2 and "refusing to overwrite" in error["error"] and "`.claude/settings.json`" in error["error"]
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
    assert res.returncode == 2 and "run-pipeline/SKILL.md" in res.stdout + res.stderr
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
    assert res.returncode == 2 and message in res.stdout + res.stderr
    assert res.returncode == 2 and "--dbt-dir" in res.stdout + res.stderr
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


# -- CLAUDE.md: adp's rules in a marked block ---------------------------------------------------------

BEGIN, END = "<!-- adp:begin -->", "<!-- adp:end -->"


def block_of(text: str) -> str:
    return text[text.index(BEGIN):text.index(END) + len(END)]


def test_claude_md_is_created_with_the_rules_and_the_dbt_path_adjusted(tmp_path):
    repo = foreign_repo(tmp_path)
    res = install(repo)
    assert res.returncode == 0, res.stderr
    assert res.json()["claude_md"] == "created"
    text = (repo / "CLAUDE.md").read_text()
    assert text.startswith(BEGIN) and text.endswith(END + "\n")
    assert "Never weaken or delete a test" in text and "python3 scripts/run_pipeline.py" in text
    assert "`analytics/tests/`" in text and "`dbt/" not in text  # the rules name this repo's dbt project
    assert "make test" not in text  # adp's own developer commands stay in adp's repo
    assert "CLAUDE.md" not in res.json()["written"]  # the user's file, not one adp owns


def test_claude_md_merge_keeps_the_users_text_and_reinstall_replaces_the_block(tmp_path):
    repo = foreign_repo(tmp_path)
    mine = "# Team rules\n\n- Use snake_case for models.\n"
    (repo / "CLAUDE.md").write_text(mine)
    first = install(repo)
    assert first.returncode == 0 and first.json()["claude_md"] == "appended"
    text = (repo / "CLAUDE.md").read_text()
    assert text.startswith(mine + "\n" + BEGIN) and text.count(BEGIN) == text.count(END) == 1

    after = "\n## Ours, after the block\n- Ask Sam before touching finance models.\n"
    (repo / "CLAUDE.md").write_text(text + after)
    again = install(repo)
    assert again.returncode == 0 and again.json()["claude_md"] == "unchanged"
    assert (repo / "CLAUDE.md").read_text() == text + after

    # an old block (an earlier adp's rules, or edits inside it) is replaced in place, once
    stale = (text + after).replace(block_of(text), f"{BEGIN}\nold rules\n{END}")
    (repo / "CLAUDE.md").write_text(stale)
    replaced = install(repo)
    assert replaced.returncode == 0 and replaced.json()["claude_md"] == "replaced"
    assert (repo / "CLAUDE.md").read_text() == text + after


@pytest.mark.parametrize("broken", [f"x\n{BEGIN}\nno end\n", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n"],
                         ids=["no-end", "reversed", "twice"])
def test_claude_md_with_broken_markers_is_refused_before_anything_is_written(tmp_path, broken):
    repo = foreign_repo(tmp_path)
    (repo / "CLAUDE.md").write_text(broken)
    res = install(repo)
    assert res.returncode == 2 and "CLAUDE.md" in res.stdout + res.stderr and BEGIN in res.stdout + res.stderr
    assert (repo / "CLAUDE.md").read_text() == broken
    assert not (repo / ".claude").exists()


# -- --repo, and --project-dir as its deprecated alias -----------------------------------------------


def test_project_dir_is_a_deprecated_alias_of_repo(tmp_path):
    repo = foreign_repo(tmp_path)
    res = run_adp("claude", "install", "--project-dir", str(repo), "--json", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "deprecated" in res.stderr and "--repo" in res.stderr
    assert res.json()["repo_dir"] == str(repo.resolve())
    assert (repo / ".claude" / "agents" / "diagnostician.md").is_file()
    quiet = install(repo)
    assert quiet.returncode == 0 and "deprecated" not in quiet.stderr


def test_repo_is_required_and_must_agree_with_the_alias(tmp_path):
    repo = foreign_repo(tmp_path)
    missing = run_adp("claude", "install", cwd=repo)
    assert missing.returncode == 2 and "--repo" in missing.stderr
    other = foreign_repo(tmp_path / "other")
    both = run_adp("claude", "install", "--repo", str(repo), "--project-dir", str(other), cwd=repo)
    assert both.returncode == 2 and "disagree" in both.stderr
    assert not (repo / ".claude").exists() and not (other / ".claude").exists()
    assert "--repo" in run_adp("claude", "install", "--help", cwd=repo).stdout


# -- the scripts' "create the venv first" hint ---------------------------------------------------------


def test_the_venv_hint_names_pip_where_there_is_no_makefile(tmp_path):
    """In an installed repo (no Makefile, no .venv) a Python without adp gets the pip command that installs
    adp from the checkout the layer came from; in adp's own repo it is `make venv`."""
    probe = subprocess.run(["python3", "-c", "import adp"], capture_output=True, cwd=tmp_path)
    if probe.returncode == 0:
        pytest.skip("the python3 on PATH can import adp: the scripts never need the hint")
    repo = foreign_repo(tmp_path)
    assert install(repo).returncode == 0
    assert not (repo / "Makefile").exists()
    proc = subprocess.run(["python3", "scripts/run_pipeline.py", "--help"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"create the venv first: python3 -m venv .venv && .venv/bin/pip install -e {REPO}" in proc.stderr
    assert "make venv" not in proc.stderr

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import _bootstrap
    finally:
        sys.path.remove(str(REPO / "scripts"))
    assert _bootstrap.venv_hint() == "make venv"  # adp's own repo has the Makefile target

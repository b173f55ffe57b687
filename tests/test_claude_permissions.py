"""adp.permissions and scripts/permission_hook.py: in human-in-loop mode Claude Code's own prompt gates fixes.

The decision is unit-tested here; tests/test_claude_e2e.py shows the real client acting on it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adp.permissions import NO_OPINION, decide, gated_action

REPO = Path(__file__).resolve().parents[1]
HOOK = REPO / "scripts" / "permission_hook.py"


@pytest.fixture
def repo_in(tmp_path):
    """A repo dir whose config/execution_mode.yml says `mode` (None: no config file, adp's default)."""

    def make(mode: str | None, text: str | None = None) -> Path:
        (tmp_path / "config").mkdir(exist_ok=True)
        if text is not None:
            (tmp_path / "config" / "execution_mode.yml").write_text(text)
        elif mode is not None:
            (tmp_path / "config" / "execution_mode.yml").write_text(f"execution:\n  mode: {mode}\n")
        return tmp_path

    return make


@pytest.mark.parametrize("command,action", [
    ("python3 scripts/apply_fix.py apply 3f2a9c1e", "apply a fix"),
    ("python scripts/apply_fix.py apply --file logs/agent/r-1.json", "apply a fix"),
    ('python3 "$CLAUDE_PROJECT_DIR/scripts/apply_fix.py" apply 3f2a9c1e', "apply a fix"),
    ("python3 scripts/apply_fix.py rollback 20250101T000000-abc123", "roll back a run's fixes"),
    ("adp fix apply 3f2a9c1e --json", "apply a fix"),
    ("adp  fix rollback r1", "roll back a run's fixes"),
    ("python3 scripts/apply_fix.py list && python3 scripts/apply_fix.py apply x", "apply a fix"),
    ("python3 scripts/run_pipeline.py --select a+ --mode autonomous", "run the pipeline in autonomous mode, applying fixes without asking"),
    ("adp run --mode=autonomous", "run the pipeline in autonomous mode, applying fixes without asking"),
    ("python3 scripts/apply_fix.py list", None),
    ("python3 scripts/apply_fix.py reject 3f2a9c1e", None),
    ("python3 scripts/run_pipeline.py --mode human-in-loop", None),
    ("python3 scripts/diagnose.py --run-id r1", None),
    ("adp fix list", None),
])
def test_what_needs_a_person(command, action):
    assert gated_action(command) == action


def test_human_in_loop_asks_with_a_reason(repo_in):
    decision = decide("python3 scripts/apply_fix.py apply 3f2a9c1e", repo_in("human-in-loop"))
    assert decision.permission == "ask"
    assert "human-in-loop mode" in decision.reason and "apply a fix" in decision.reason
    assert decision.hook_output() == {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
                                                             "permissionDecisionReason": decision.reason}}


def test_no_config_means_adps_default_mode_human_in_loop(repo_in):
    assert decide("python3 scripts/apply_fix.py rollback r1", repo_in(None)).permission == "ask"


def test_autonomous_allows_the_call_but_not_a_compound_one(repo_in):
    repo = repo_in("autonomous")
    assert decide("python3 scripts/apply_fix.py apply 3f2a9c1e", repo).permission == "allow"
    assert decide("python3 scripts/run_pipeline.py --mode autonomous", repo).permission == "allow"
    # no wave-through for what else a compound command runs: settings.json decides that one
    assert decide("python3 scripts/apply_fix.py apply x; rm -rf dbt", repo) == NO_OPINION


def test_other_commands_get_no_opinion_in_either_mode(repo_in):
    for mode in ("human-in-loop", "autonomous"):
        decision = decide("python3 scripts/apply_fix.py list", repo_in(mode))
        assert decision == NO_OPINION and decision.hook_output() is None


def test_a_config_adp_cannot_read_means_ask(repo_in):
    decision = decide("python3 scripts/apply_fix.py apply x", repo_in(None, text="execution:\n  mode: yolo\n"))
    assert decision.permission == "ask" and "cannot read its mode" in decision.reason and "execution.mode" in decision.reason


# -- the hook script, as Claude Code runs it -------------------------------------------------------


def hook(command: str, repo: Path, via: str = "env") -> subprocess.CompletedProcess:
    event = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": command}}
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo)}
    if via == "env":
        env["CLAUDE_PROJECT_DIR"] = str(repo)
    else:
        event["cwd"] = str(repo)
    return subprocess.run([sys.executable, str(HOOK)], input=json.dumps(event), capture_output=True, text=True,
                          timeout=60, cwd="/", env=env)


@pytest.mark.parametrize("via", ["env", "cwd"])
def test_the_hook_prints_the_decision_for_the_project_it_is_told(repo_in, via):
    proc = hook("python3 scripts/apply_fix.py apply 3f2a9c1e", repo_in("human-in-loop"), via)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "ask"
    assert str(repo_in("human-in-loop") / "config" / "execution_mode.yml") in out["permissionDecisionReason"]


def test_the_hook_allows_in_autonomous_mode_and_is_silent_otherwise(repo_in):
    repo = repo_in("autonomous")
    allowed = hook("python3 scripts/apply_fix.py apply 3f2a9c1e", repo)
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
    silent = hook("python3 scripts/validate.py", repo)
    assert silent.returncode == 0 and silent.stdout == ""


def test_the_hook_fails_closed_without_adp(tmp_path):
    """A copy of the scripts with no venv beside them and a Python that cannot import adp: ask, do not allow."""
    probe = subprocess.run(["python3", "-c", "import adp"], capture_output=True, cwd=tmp_path)
    if probe.returncode == 0:
        pytest.skip("the python3 on PATH can import adp")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("permission_hook.py", "_bootstrap.py"):
        (scripts / name).write_text((REPO / "scripts" / name).read_text())
    event = json.dumps({"tool_input": {"command": "python3 scripts/apply_fix.py apply x"}})
    proc = subprocess.run(["python3", str(scripts / "permission_hook.py")], input=event, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "ask" and "cannot run" in out["permissionDecisionReason"]
    other = subprocess.run(["python3", str(scripts / "permission_hook.py")], input=json.dumps({"tool_input": {"command": "ls"}}),
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert other.returncode == 0 and other.stdout == ""

"""scripts/agent_bash_guard.py: the PreToolUse hook that holds a subagent to the Bash entries of its `tools:`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GUARD = REPO / "scripts" / "agent_bash_guard.py"


def hook(agent: str, command: str) -> subprocess.CompletedProcess:
    event = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": command}}
    return subprocess.run([sys.executable, str(GUARD), agent], input=json.dumps(event), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("agent,command,allowed", [
    ("diagnostician", "python3 scripts/diagnose.py --run-id 20250101T000000-abc123", True),
    ("diagnostician", "python3 scripts/inspect_node.py model.shop.x", True),
    ("diagnostician", "python3 scripts/diagnose.pyx", False),
    ("diagnostician", "python3 scripts/apply_fix.py apply --file logs/agent/r-1.json", False),
    ("diagnostician", "python3 scripts/diagnose.py && rm -rf dbt", False),
    ("diagnostician", "python3 scripts/diagnose.py > dbt/models/x.sql", False),
    ("diagnostician", "python3 scripts/diagnose.py --run-id $(cat .env)", False),
    ("pipeline-orchestrator", "python3 scripts/apply_fix.py apply 3f2a9c1e", True),
    ("pipeline-orchestrator", "python3 scripts/run_pipeline.py --select a+ --mode human-in-loop", True),
    ("pipeline-orchestrator", "dbt build", False),
])
def test_only_the_agents_own_commands_pass(agent, command, allowed):
    proc = hook(agent, command)
    assert proc.returncode == (0 if allowed else 2), proc.stderr
    assert ("Blocked" in proc.stderr) is not allowed


def test_both_agents_declare_the_hook_for_themselves():
    for agent in ("diagnostician", "pipeline-orchestrator"):
        frontmatter = (REPO / ".claude" / "agents" / f"{agent}.md").read_text().split("---", 2)[1]
        assert f'scripts/agent_bash_guard.py" {agent}\n' in frontmatter and "matcher: Bash" in frontmatter

"""What Claude Code must put to the person before a Bash call: the decision behind the PreToolUse hook.

In human-in-loop mode a fix is applied (or rolled back) only after a person said yes. The agents'
instructions say so, but instructions are not a gate: `decide()` makes Claude Code's own permission
prompt ask for `apply_fix.py apply|rollback` (and `adp fix apply|rollback`), and for a run that
overrides the configured mode with `--mode autonomous`. In autonomous mode those calls are allowed
(settings.json's own deny and ask rules still apply: a hook's allow does not skip them). Every other
command gets no opinion, so settings.json decides. The mode is the one adp itself reads
(`config/execution_mode.yml` through `load_execution_config`); a config adp cannot read means ask.
scripts/permission_hook.py turns the decision into the hook's JSON.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from adp.config import load_execution_config
from adp.errors import ConfigError

# `apply_fix.py apply ...`, `apply_fix.py rollback ...`, `adp fix apply ...`, wherever they sit in the command
FIX_CALL = re.compile(r"(?:\bapply_fix\.py[\"']?|\badp\s+fix)\s+(apply|rollback)\b")
# a run that overrides the configured mode: `run_pipeline.py ... --mode autonomous`, `adp run --mode=autonomous`
AUTONOMOUS_RUN = re.compile(r"(?:\brun_pipeline\.py|\badp\s+run)\b.*--mode[\s=][\"']?autonomous\b", re.DOTALL)
SHELL_CONTROL = re.compile(r"[;&|`$<>\n\r]")


@dataclass(frozen=True)
class Decision:
    """`permission` is the hook's permissionDecision; None leaves the call to settings.json."""

    permission: Optional[Literal["allow", "ask"]]
    reason: str = ""

    def hook_output(self) -> Optional[dict[str, Any]]:
        """The PreToolUse hook's JSON on stdout (exit 0), or None to print nothing."""
        if self.permission is None:
            return None
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": self.permission,
                                       "permissionDecisionReason": self.reason}}


NO_OPINION = Decision(None)


def gated_action(command: str) -> Optional[str]:
    """What a command would do that needs a person in human-in-loop mode, or None."""
    fix = FIX_CALL.search(command)
    if fix:
        return "apply a fix" if fix.group(1) == "apply" else "roll back a run's fixes"
    if AUTONOMOUS_RUN.search(command):
        return "run the pipeline in autonomous mode, applying fixes without asking"
    return None


def decide(command: str, repo_dir: str | Path) -> Decision:
    """The decision for one Bash `command` run from `repo_dir` (whose `config/` adp reads)."""
    action = gated_action(command)
    if action is None:
        return NO_OPINION
    config_dir = Path(repo_dir) / "config"
    try:
        mode = load_execution_config(config_dir).execution.mode
    except ConfigError as exc:
        return Decision("ask", f"This would {action}, and adp cannot read its mode ({exc}): approve only if you mean it.")
    if mode == "autonomous":
        if SHELL_CONTROL.search(command):  # never wave through what else a compound command runs
            return NO_OPINION
        return Decision("allow", f"autonomous mode ({config_dir / 'execution_mode.yml'}): adp applies, verifies and rolls back")
    return Decision("ask", f"human-in-loop mode ({config_dir / 'execution_mode.yml'}): this would {action}. "
                           "Approve only if you saw the diff and the confidence and want it applied.")

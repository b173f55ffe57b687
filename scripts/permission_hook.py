#!/usr/bin/env python3
"""PreToolUse hook (settings.json, matcher Bash): Claude Code's own prompt gates fixes in human-in-loop mode.

In human-in-loop mode (config/execution_mode.yml) it answers `ask` for `apply_fix.py apply|rollback`,
`adp fix apply|rollback` and a run with `--mode autonomous`, so the person approves the call in Claude
Code's permission prompt (under `claude -p`, where nobody can answer, the call is denied and listed in
`permission_denials`). In autonomous mode it allows them. Other commands: no output, settings.json decides.
The decision is adp's (`adp.permissions.decide`); this script only reads the hook JSON and prints the answer.

    "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
      "command": "python3 \"$CLAUDE_PROJECT_DIR/scripts/permission_hook.py\""}]}]}
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import _bootstrap


def ask(reason: str) -> int:
    """Fail closed: when adp cannot decide, the person does."""
    print(json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
                                             "permissionDecisionReason": reason}}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="permission_hook.py", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    try:
        _bootstrap.ensure("adp")  # before reading stdin: it may re-exec this script under the venv
        missing = None
    except SystemExit as exc:
        missing = str(exc)
    event = json.load(sys.stdin)
    command = str((event.get("tool_input") or {}).get("command", ""))
    if missing is not None:  # cannot read the mode: ask for anything that might apply a fix
        if any(word in command for word in ("apply_fix.py", "run_pipeline.py", "adp ")):
            return ask(f"adp's permission hook cannot run ({missing}); approve only if you mean it")
        return 0
    from adp.permissions import decide

    repo = os.environ.get("CLAUDE_PROJECT_DIR") or event.get("cwd") or os.getcwd()
    output = decide(command, repo).hook_output()
    if output is not None:
        print(json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())

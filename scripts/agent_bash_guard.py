#!/usr/bin/env python3
"""PreToolUse hook for a subagent: allow only the Bash commands its own `tools:` list names.

Claude Code (2.1.x) treats `Bash(<prefix>:*)` in an agent's `tools:` as "Bash is available", not as a
limit: the subagent may run anything settings.json allows. This hook enforces the list. Declared in the
agent's frontmatter (so it applies to that subagent only):

    hooks:
      PreToolUse:
        - matcher: Bash
          hooks:
            - type: command
              command: python3 "$CLAUDE_PROJECT_DIR/scripts/agent_bash_guard.py" diagnostician

Reads the hook JSON on stdin; exit 0 lets the command run, exit 2 blocks it (stderr goes to the model).
Compound commands (`;`, `&&`, `|`, redirections, substitutions) are always blocked.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

AGENTS = Path(__file__).resolve().parents[1] / ".claude" / "agents"
SHELL_CONTROL = re.compile(r"[;&|`$<>\n\r]")


def allowed_prefixes(agent: str) -> list[str]:
    """The `<prefix>` of every `Bash(<prefix>:*)` in the agent's frontmatter `tools:` line."""
    text = (AGENTS / f"{agent}.md").read_text(encoding="utf-8")
    frontmatter = text.split("---", 2)[1]
    line = re.search(r"(?m)^tools:(.*)$", frontmatter)
    return re.findall(r"Bash\(([^)]*?):\*\)", line.group(1)) if line else []


def verdict(command: str, prefixes: list[str]) -> str | None:
    """None when `command` may run, else why not."""
    command = command.strip()
    if SHELL_CONTROL.search(command):
        return "compound commands, pipes, redirections and substitutions are not allowed for this agent"
    if any(command == p or command.startswith(p + " ") for p in prefixes):
        return None
    return f"this agent may run only: {', '.join(prefixes) or 'no commands'}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="agent_bash_guard.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("agent", help="the agent whose `tools:` list is enforced (.claude/agents/<agent>.md)")
    agent = p.parse_args(argv).agent
    event = json.load(sys.stdin)
    command = str((event.get("tool_input") or {}).get("command", ""))
    reason = verdict(command, allowed_prefixes(agent))
    if reason is None:
        return 0
    print(f"Blocked `{command}`: {reason}.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

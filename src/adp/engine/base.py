"""The engine interface: run one dbt command, stream its JSON log events, return what happened."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from adp.project import DbtProject

EventHandler = Callable[[dict[str, Any]], None]


@dataclass
class EngineResult:
    """Raw outcome of one dbt invocation, before the artifacts are read."""

    args: list[str]
    exit_code: int
    engine: str = ""  # the engine that really ran the call (the in-process engine can fall back)
    events: list[dict[str, Any]] = field(default_factory=list)  # JSON log lines of this invocation
    text: list[str] = field(default_factory=list)  # non-JSON output (click usage errors, tracebacks)
    elapsed: float = 0.0

    @property
    def invocation_id(self) -> str | None:
        for ev in self.events:
            inv = ev.get("info", {}).get("invocation_id")
            if inv:
                return inv
        return None


class Engine(Protocol):
    name: str

    def invoke(self, project: DbtProject, args: list[str], on_event: EventHandler | None = None) -> EngineResult:
        ...


def dbt_env() -> dict[str, str]:
    """The environment dbt runs in: telemetry off, no colours; otherwise the caller's, unchanged."""
    env = dict(os.environ)
    env["DO_NOT_TRACK"] = "1"
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    env["DBT_USE_COLORS"] = "False"
    return env


def project_args(project: DbtProject) -> list[str]:
    """Flags that point dbt at the project, kept identical across invocations (partial parsing)."""
    args = ["--project-dir", str(project.project_dir)]
    if project.profiles_dir is not None:
        args += ["--profiles-dir", str(project.profiles_dir)]
    if project.target:
        args += ["--target", project.target]
    return args

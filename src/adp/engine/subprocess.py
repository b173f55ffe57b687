"""The default engine: `dbt <command> --log-format json` as a child process, from the project dir."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from adp.engine.base import EngineResult, EventHandler, dbt_env, project_args
from adp.project import DbtProject


def dbt_executable() -> str:
    """The `dbt` next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    if local.is_file():
        return str(local)
    found = shutil.which("dbt")
    if not found:
        raise FileNotFoundError("dbt is not installed in this environment (pip install dbt-duckdb)")
    return found


class SubprocessEngine:
    name = "subprocess"

    def invoke(self, project: DbtProject, args: list[str], on_event: EventHandler | None = None) -> EngineResult:
        cmd = [dbt_executable(), *args, "--log-format", "json", *project_args(project)]
        started = time.monotonic()
        result = EngineResult(args=list(args), exit_code=0, engine=self.name)
        # cwd = project dir: relative paths in profiles and sources resolve as the project expects.
        with subprocess.Popen(
            cmd,
            cwd=project.project_dir,
            env=dbt_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                event = _parse(line)
                if event is None:
                    if line.strip():
                        result.text.append(line.rstrip("\n"))
                    continue
                result.events.append(event)
                if on_event is not None:
                    on_event(event)
            result.exit_code = proc.wait()
        result.elapsed = time.monotonic() - started
        return result


def _parse(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "info" in event else None

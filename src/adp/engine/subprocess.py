"""The default engine: `dbt <command> --log-format json` as a child process, from the project dir.

The child runs in its own process group, so a Ctrl-C at the terminal reaches adp only and adp decides
how dbt stops: on any exception while dbt runs (Interrupted by SIGINT/SIGTERM, KeyboardInterrupt, a bug)
dbt gets SIGINT (it cancels its queries and writes run_results), SIGTERM after half the grace period and
SIGKILL at its end, and is waited on before the exception goes on (and the writer lock is released).
The child inherits the writer lock's descriptor: even if adp dies by SIGKILL, nobody else writes until
dbt has exited.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from adp.engine.base import EngineResult, EventHandler, dbt_env, project_args, shielded
from adp.lock import held_fds
from adp.project import DbtProject

STOP_GRACE_SECONDS = 10.0  # SIGINT at 0, SIGTERM at half of it, SIGKILL at the end


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
            process_group=0,
            pass_fds=held_fds(),
        ) as proc:
            assert proc.stdout is not None
            try:
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
            except BaseException:
                stop(proc)
                raise
        result.elapsed = time.monotonic() - started
        return result


def stop(proc: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> int:
    """Stop dbt and reap it: SIGINT (SIGTERM if it ignores SIGINT), SIGTERM after grace/2, SIGKILL after
    grace (at once on another Ctrl-C); its output is drained meanwhile so a full pipe cannot block it.
    Returns its exit code."""
    with shielded() as hurried:
        fd = proc.stdout.fileno() if proc.stdout is not None and not proc.stdout.closed else None
        began = time.monotonic()
        termed = _ignores(proc.pid, signal.SIGINT)  # inherited SIG_IGN (adp started with `&` or nohup)
        _signal(proc, signal.SIGTERM if termed else signal.SIGINT)
        while proc.poll() is None:
            elapsed = time.monotonic() - began
            if elapsed >= grace or hurried():
                _signal(proc, signal.SIGKILL)
                break
            if elapsed >= grace / 2 and not termed:
                _signal(proc, signal.SIGTERM)
                termed = True
            if fd is None:
                time.sleep(0.05)
                continue
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    if not os.read(fd, 65536):
                        time.sleep(0.05)  # EOF: the pipe is closed, the process is exiting
                except OSError:
                    fd = None
        return proc.wait()


def _ignores(pid: int, sig: int) -> bool:
    """Whether process `pid` ignores `sig` (the SigIgn mask in /proc/<pid>/status; False if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _signal(proc: subprocess.Popen, sig: int) -> None:
    """Signal dbt's process group (dbt and anything it started); never a reaped pid."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _parse(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "info" in event else None

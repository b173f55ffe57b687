"""The opt-in engine: dbtRunner inside this process (no interpreter start-up or import per call).

One invocation at a time (dbt's global state is not thread-safe); the warehouse's file handle is
released after each call so other readers are not locked out. Any failure of the engine itself
(not of the project) falls back to the subprocess engine for that call.

SIGINT/SIGTERM during a call become a KeyboardInterrupt inside dbt (what dbtRunner handles: it cancels the
running queries and joins its threads); the call then raises `Interrupted(signum)`, after the warehouse's
handles are released, exactly as the subprocess engine does once its child has exited.
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from adp.engine.base import EngineResult, EventHandler, dbt_env, interrupt_signal, keyboard_interrupts, project_args
from adp.engine.subprocess import SubprocessEngine
from adp.errors import Interrupted
from adp.project import DbtProject
from adp.warehouses import for_project

_INVOKE_LOCK = threading.Lock()


@contextmanager
def _in_project(project: DbtProject) -> Iterator[None]:
    """cwd and environment as the subprocess engine would have them, restored afterwards."""
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    os.chdir(project.project_dir)
    os.environ.update(dbt_env())
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


@contextmanager
def _stdout_to(lines: list[str]) -> Iterator[None]:
    """Keep dbt's own prints off our stdout (it prints there before its flags are set, e.g. on a
    dbt_project.yml that does not parse), so `adp run --json` stays one JSON object; they become text."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            lines.extend(line for line in tmp.read().decode("utf-8", "replace").splitlines() if line.strip())


class InProcessEngine:
    name = "in_process"

    def __init__(self) -> None:
        self.fallback = SubprocessEngine()

    def invoke(self, project: DbtProject, args: list[str], on_event: EventHandler | None = None) -> EngineResult:
        try:
            from dbt.cli.main import dbtRunner
            from dbt_common.events.functions import msg_to_dict
        except ImportError:
            return self.fallback.invoke(project, args, on_event)
        result = EngineResult(args=list(args), exit_code=0, engine=self.name)

        def collect(msg: Any) -> None:
            event = msg_to_dict(msg)
            result.events.append(event)
            if on_event is not None:
                on_event(event)

        started = time.monotonic()
        res, broken = None, False
        with _INVOKE_LOCK:
            try:
                with keyboard_interrupts(), _in_project(project), _stdout_to(result.text):
                    try:
                        res = dbtRunner(callbacks=[collect]).invoke([*args, "--log-level", "none", *project_args(project)])
                    except Exception:  # the engine itself broke, not the project: use a fresh process
                        broken = True
                    finally:
                        for_project(project).release_in_process_handles()
            except KeyboardInterrupt:  # arrived outside dbt's own handling (set-up, our callback, clean-up)
                raise Interrupted(interrupt_signal() or signal.SIGINT) from None
        if broken or res is None:
            return self.fallback.invoke(project, args, on_event)
        if isinstance(res.exception, (KeyboardInterrupt, Interrupted)):
            signum = res.exception.signum if isinstance(res.exception, Interrupted) else interrupt_signal()
            raise Interrupted(signum or signal.SIGINT)
        if res.exception is not None:
            result.exit_code = 2
            inv = result.invocation_id or ""
            result.events.append(
                {
                    "info": {"name": "MainEncounteredError", "level": "error", "msg": str(res.exception), "invocation_id": inv},
                    "data": {"exc": str(res.exception)},
                }
            )
        else:
            result.exit_code = 0 if res.success else 1
        result.elapsed = time.monotonic() - started
        return result

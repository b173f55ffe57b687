"""The engine interface: run one dbt command, stream its JSON log events, return what happened."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from adp.errors import Interrupted
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
    if project.target_path is not None:
        args += ["--target-path", str(project.target_path)]
    return args


# -- SIGINT / SIGTERM: one interruption per run, turned into `Interrupted` in the main thread -------

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Interrupts:
    """What the handler installed by `interrupts_raised` does and has seen."""

    active = False
    signum: int | None = None  # the first signal received while active
    count = 0  # signals received while active (a second one hurries the stop: dbt is killed at once)
    as_keyboard_interrupt = False  # in-process dbt stops cleanly (cancels its queries) on KeyboardInterrupt


_state = _Interrupts()


def _handler(signum: int, frame: object) -> None:
    _state.count += 1
    if _state.signum is not None:
        return  # already stopping: the first signal's clean-up runs to its (bounded) end
    _state.signum = signum
    if _state.as_keyboard_interrupt:
        raise KeyboardInterrupt
    raise Interrupted(signum)


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """While inside (main thread only), the first SIGINT or SIGTERM raises `Interrupted(signum)`; later ones
    are counted but do not interrupt the clean-up. A signal the caller ignores (SIG_IGN, e.g. under nohup or
    `&`) stays ignored. Previous handlers are restored on exit. Re-entrant: an inner use is a no-op."""
    if _state.active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, _handler)
    _state.active, _state.signum, _state.count = True, None, 0
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.active, _state.signum, _state.count = False, None, 0


@contextmanager
def keyboard_interrupts() -> Iterator[None]:
    """Inside `interrupts_raised`, make the first signal raise KeyboardInterrupt instead (what dbtRunner
    handles: it cancels the running queries and joins its threads); `interrupt_signal()` tells which."""
    before = _state.as_keyboard_interrupt
    _state.as_keyboard_interrupt = True
    try:
        yield
    finally:
        _state.as_keyboard_interrupt = before


@contextmanager
def shielded() -> Iterator[Callable[[], bool]]:
    """For the clean-up after an interruption (stopping dbt): SIGINT/SIGTERM arriving meanwhile are counted,
    never raised, so the clean-up cannot be cut short. Yields `hurried()`: True once another signal came."""
    with interrupts_raised():
        if not _state.active:  # not the main thread: signals are not ours to handle here
            yield lambda: False
            return
        saved, start = _state.signum, _state.count
        if saved is None:
            _state.signum = 0  # "already stopping": the handler only counts
        try:
            yield lambda: _state.count > start
        finally:
            _state.signum = saved


def interrupt_signal() -> int | None:
    """The signal that interrupted the current run, if one did."""
    return _state.signum or None

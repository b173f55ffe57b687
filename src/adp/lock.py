"""One writer at a time: an advisory file lock next to the warehouse, waited on for a bounded time.

The dbt child processes adp starts inherit the lock's descriptor (`held_fds`), so the flock stays held
while any of them lives, even if adp itself is killed (-9) in the middle of a build.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Callable

from adp.errors import LockTimeout

_HELD: set[int] = set()  # descriptors of the writer locks this process holds


def held_fds() -> tuple[int, ...]:
    """The descriptors of the writer locks held by this process (for a child to inherit)."""
    return tuple(sorted(_HELD))


class WriterLock:
    """`with WriterLock(path, timeout):` holds an exclusive flock on `path` or raises LockTimeout."""

    def __init__(self, path: Path, timeout: float, poll: float = 0.2, on_wait: Callable[[str], None] | None = None):
        self.path, self.timeout, self.poll, self.on_wait = Path(path), timeout, poll, on_wait
        self._fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._acquire(fd)
        except BaseException:  # LockTimeout, or Ctrl-C while waiting
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"adp pid {os.getpid()}".encode())
        self._fd = fd
        _HELD.add(fd)
        return self

    def _acquire(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                holder = self.path.read_text(errors="replace").strip() or "another process"
                if not waited and self.on_wait is not None:
                    self.on_wait(f"waiting up to {self.timeout:.0f}s for the writer lock {self.path} (held by {holder})")
                waited = True
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{self.path}: the warehouse is being written by {holder}; "
                        f"waited {self.timeout:.0f}s. Try again when that run has finished."
                    ) from None
                time.sleep(self.poll)

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            _HELD.discard(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

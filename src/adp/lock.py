"""One writer at a time: an advisory file lock next to the warehouse, waited on for a bounded time."""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Callable

from adp.errors import LockTimeout


class WriterLock:
    """`with WriterLock(path, timeout):` holds an exclusive flock on `path` or raises LockTimeout."""

    def __init__(self, path: Path, timeout: float, poll: float = 0.2, on_wait: Callable[[str], None] | None = None):
        self.path, self.timeout, self.poll, self.on_wait = Path(path), timeout, poll, on_wait
        self._fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self.path.read_text(errors="replace").strip() or "another process"
                if not waited and self.on_wait is not None:
                    self.on_wait(f"waiting up to {self.timeout:.0f}s for the writer lock {self.path} (held by {holder})")
                waited = True
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(
                        f"{self.path}: the warehouse is being written by {holder}; "
                        f"waited {self.timeout:.0f}s. Try again when that run has finished."
                    ) from None
                time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"adp pid {os.getpid()}".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

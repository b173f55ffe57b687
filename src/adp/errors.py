"""The exceptions adp raises; the CLI turns them into messages and exit codes."""
from __future__ import annotations


class AdpError(Exception):
    """Base class: a problem adp reports to the user (exit 1 unless a subclass says otherwise)."""

    exit_code = 1


class UsageError(AdpError):
    """adp's own inputs are wrong (CLI arguments, paths): exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file is invalid; the message names the file and the key."""

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(f"{self.file}: `{key}`: {problem}")


class LockTimeout(AdpError):
    """Another adp process holds the warehouse's writer lock for longer than we wait."""


class FixError(AdpError):
    """A fix or a rollback is refused (malformed, stale, outside the project, weakens a test, not found): exit 2."""

    exit_code = 2


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived during a run; dbt has been stopped. A BaseException, like KeyboardInterrupt,
    so no `except Exception` swallows it; `exit_code` is 128 + the signal number (130, 143)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by signal {signum}")

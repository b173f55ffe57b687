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
    """A fix proposal cannot be applied (stale, outside the project, not found)."""

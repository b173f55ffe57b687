"""What every source kind shares: the configured source, where its rows land, and the checks of its settings.

The bottom of the ingest package: kinds (`files.py`, `api.py`), jobs and the sources.yml reader
(`config.py`) import it; it imports nothing from them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adp.errors import ConfigError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Target:
    """Where and how one source's rows land (shared by every kind)."""

    schema: str = "raw"  # target schema
    write: Literal["replace", "append", "merge"] = "replace"
    primary_key: tuple[str, ...] = ()  # required for `merge`: rows with the same key are updated
    on_schema_change: Literal["evolve", "fail"] = "evolve"  # what a column added/removed/retyped does
    database: str | None = None  # DuckDB file (relative to the repo root); default: the profile's


@dataclass(frozen=True)
class Source:
    """One named source of one kind, as read from sources.yml."""

    kind: str  # key under `sources:` (`files`, `apis`, ...)
    name: str  # key under the kind
    settings: Any  # the kind's config dataclass
    key: str  # `sources.<kind>.<name>`, for error messages

    @property
    def enabled(self) -> bool:
        return bool(getattr(self.settings, "enabled", True))

    @property
    def required(self) -> bool:
        """Input that matches nothing is an error, not a warning (kinds with a `required` setting)."""
        return bool(getattr(self.settings, "required", False))


@dataclass(frozen=True)
class SourcesConfig:
    """The whole file: sources in file order plus where they go."""

    path: Path  # the sources.yml file
    root: Path  # paths in the file resolve against this (the parent of the config dir)
    project: str | None = None
    database: str | None = None
    state_schema: str = "raw"
    sources: tuple[Source, ...] = field(default_factory=tuple)

    def resolve(self, path: str | Path) -> Path:
        p = Path(os.path.expandvars(str(path))).expanduser()
        return p if p.is_absolute() else (self.root / p).resolve()


def check_target(target: Target, file: Path, key: str) -> None:
    """Cross-field checks of a Target (call from a kind's `validate`)."""
    check_identifier(target.schema, file, f"{key}.schema")
    if target.write == "merge" and not target.primary_key:
        raise ConfigError(str(file), f"{key}.primary_key", "is required when write is `merge`")


def check_identifier(value: str, file: Path, key: str) -> None:
    if not _IDENT.match(value):
        raise ConfigError(str(file), key, f"`{value}` is not a plain identifier (letters, digits, _)")


def require_env(name: str | None, file: Path, key: str) -> None:
    """A secret named by an environment variable must be set (its value never appears in config)."""
    if not name:
        raise ConfigError(str(file), key, "names no environment variable")
    if name not in os.environ:
        raise ConfigError(str(file), key, f"environment variable `{name}` is not set")

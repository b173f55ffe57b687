"""config/sources.yml -> frozen dataclasses; every error names the file and the key.

Shape::

    project: dbt              # optional: the dbt project these sources feed (other projects ingest nothing)
    database: null            # optional: DuckDB file for every source (default: the profile's)
    state_schema: raw         # where `_loads`, `_state` and `_rejects` live
    sources:
      <kind>:                 # a registered source kind: `files`, `apis`, ...
        <name>: {...}         # that kind's settings (see files.py / api.py)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adp.config import build_dataclass, read_yaml
from adp.errors import ConfigError

SOURCES_FILE = "sources.yml"
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


@dataclass(frozen=True)
class _TopLevel:
    project: str | None = None
    database: str | None = None
    state_schema: str = "raw"
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_sources(config_dir: Path) -> SourcesConfig | None:
    """Read `<config_dir>/sources.yml`; None when the file does not exist.

    Raises:
        ConfigError: unknown keys, wrong types, unknown kinds, missing environment variables.
    """
    from adp.ingest.registry import KINDS

    path = Path(config_dir) / SOURCES_FILE
    if not path.is_file():
        return None
    top = build_dataclass(_TopLevel, read_yaml(path), path)
    check_identifier(top.state_schema, path, "state_schema")
    sources = []
    for kind_name, entries in top.sources.items():
        kind = KINDS.get(kind_name)
        if kind is None:
            raise ConfigError(str(path), f"sources.{kind_name}", f"unknown source kind (known: {', '.join(sorted(KINDS))})")
        if not isinstance(entries, dict):
            raise ConfigError(str(path), f"sources.{kind_name}", f"expected a mapping of source names, got {type(entries).__name__}")
        for name, data in entries.items():
            key = f"sources.{kind_name}.{name}"
            if not isinstance(name, str):
                raise ConfigError(str(path), key, f"a source name must be a string; YAML read {name!r}, so quote it")
            settings = build_dataclass(kind.config, data, path, key)
            source = Source(kind_name, str(name), settings, key)
            if kind.validate is not None:
                kind.validate(source, path)
            sources.append(source)
    config = SourcesConfig(path, path.parent.parent.resolve(), top.project, top.database, top.state_schema, tuple(sources))
    check_targets(config)
    return config


STATE_TABLES = ("_loads", "_state", "_rejects")


def table_identity(config: SourcesConfig, database: str | Path | None, schema: str, table: str) -> tuple[str | None, str, str]:
    """(DuckDB file or None for the profile's, schema, table) as DuckDB compares them: identifiers ignore case."""
    db = database or config.database
    return (str(config.resolve(db)) if db else None, schema.lower(), table.lower())


def check_targets(config: SourcesConfig) -> None:
    """Two enabled sources (or endpoints) loading one table would replace each other's rows: refuse them.

    Checks the tables the settings name (`table:`, an endpoint, a file pattern without wildcards); tables
    named after files found by a glob are checked when the sources are planned (`adp.ingest.run`).
    """
    from adp.ingest.registry import KINDS

    seen: dict[tuple[str | None, str, str], tuple[str, str]] = {}
    for source in config.sources:
        kind = KINDS.get(source.kind)
        if not source.enabled or kind is None or kind.targets is None:
            continue
        for key, target, table in kind.targets(source):
            check_own_table(config, target.schema, table, key)
            ident = table_identity(config, target.database, target.schema, table)
            if ident in seen:
                raise duplicate_target(config.path, key, f"{target.schema}.{table}", *seen[ident])
            seen[ident] = (key, f"{target.schema}.{table}")


def check_own_table(config: SourcesConfig, schema: str, table: str, key: str) -> None:
    """A source may not load into adp's own tables (`_loads`, `_state`, `_rejects`, `_adp_*` staging)."""
    low = table.lower()
    if (schema.lower() == config.state_schema.lower() and low in STATE_TABLES) or low.startswith("_adp_"):
        raise ConfigError(str(config.path), key, f"`{schema}.{table}` is a table adp keeps for itself; choose another table name")


def duplicate_target(file: Path, key: str, table: str, first_key: str, first_table: str, origin: str = "",
                     first_origin: str = "") -> ConfigError:
    """The error for two sources loading one table; names the file and both sources' keys."""
    what, first_what = (f"{origin} " if origin else ""), (f"{first_origin} " if first_origin else "")
    case = "" if table == first_table else f" (as {first_table}: DuckDB table names ignore case)"
    return ConfigError(
        str(file), key,
        f"loads {what}into {table}, the table `{first_key}` loads {first_what}into{case}; one load would replace "
        "the other's rows. Give one of them another `table:` or `schema:`, or read both inputs with one source",
    )


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

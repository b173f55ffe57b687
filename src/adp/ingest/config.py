"""config/sources.yml -> frozen dataclasses; every error names the file and the key.

Shape::

    project: dbt              # optional: the dbt project these sources feed (other projects ingest nothing)
    database: null            # optional: DuckDB file for every source (default: the profile's)
    state_schema: raw         # where `_loads`, `_state` and `_rejects` live
    sources:
      <kind>:                 # a registered source kind: `files`, `apis`, ...
        <name>: {...}         # that kind's settings (see files.py / api.py)

The types it builds (Source, SourcesConfig) live in `source.py`, below the kinds; this reader sits
above the kind registry and validates each source through its kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adp.config import build_dataclass, read_yaml
from adp.errors import ConfigError
from adp.ingest.registry import KINDS
from adp.ingest.source import Source, SourcesConfig, check_identifier

SOURCES_FILE = "sources.yml"


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

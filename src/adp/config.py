"""config/execution_mode.yml -> frozen dataclasses, defaults in code, errors naming file and key."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from adp.errors import ConfigError
from adp.yaml_load import describe as describe_yaml_error
from adp.yaml_load import load_yaml

MODES = ("autonomous", "human-in-loop")
MAX_SAMPLE_ROWS = 100  # a findings file is read by a person; more rows belong in `dbt show`


@dataclass(frozen=True)
class Execution:
    mode: Literal["autonomous", "human-in-loop"] = "human-in-loop"
    lock_timeout_seconds: float = 600.0  # how long a second `adp run` waits for the writer lock


@dataclass(frozen=True)
class Retry:
    max_retries: int = 3  # healing iterations after the first run
    base_delay_seconds: float = 5.0  # backoff for transient failures only
    backoff_multiplier: float = 2.0
    max_delay_seconds: float = 60.0
    max_transient_retries: int = 5  # its own counter, separate from healing iterations


@dataclass(frozen=True)
class Autonomous:
    min_confidence: float = 0.8
    create_backups: bool = True  # keep backups after a successful heal (always taken for rollback)


@dataclass(frozen=True)
class Agent:
    enabled: bool = False
    command: str = "claude -p --output-format json"
    timeout_seconds: float = 300.0


@dataclass(frozen=True)
class Validate:
    enabled: bool = True
    row_count_change: float = 0.5  # relative change in rows that is an error
    row_count_warn: float = 0.2  # relative change in rows that is a warning
    null_rate_increase: float = 0.2  # absolute increase of a column's null fraction that is an error
    null_rate_warn: float = 0.05  # absolute increase of a column's null fraction that is a warning
    keep_snapshots: int = 500  # good-run snapshots kept in logs/history.duckdb (oldest dropped first)
    freshness_hours: float = 24.0  # a source loaded longer ago than this is stale (warn)


@dataclass(frozen=True)
class Report:
    on_run: bool = True  # regenerate logs/report.html after every `adp run`


@dataclass(frozen=True)
class Ingest:
    on_run: bool = True  # `adp run` ingests stale or changed sources before building


@dataclass(frozen=True)
class Samples:
    enabled: bool = True  # the findings of a failed data test show its first failing rows (read-only query)
    max_rows: int = 5  # at most this many rows per failed test


@dataclass(frozen=True)
class ExecutionConfig:
    execution: Execution = field(default_factory=Execution)
    retry: Retry = field(default_factory=Retry)
    autonomous: Autonomous = field(default_factory=Autonomous)
    agent: Agent = field(default_factory=Agent)
    validate: Validate = field(default_factory=Validate)
    report: Report = field(default_factory=Report)
    ingest: Ingest = field(default_factory=Ingest)
    samples: Samples = field(default_factory=Samples)
    engine: Literal["subprocess", "in_process"] = "subprocess"


def build_dataclass(cls: type, data: Any, file: str | Path, prefix: str = "") -> Any:
    """Build dataclass `cls` from a YAML mapping, checking keys and types; errors name file and key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(file), prefix or "<root>", f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(str(file), _join(prefix, key), f"unknown key (allowed: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints[key], value, file, _join(prefix, key))
    return cls(**kwargs)


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _coerce(hint: Any, value: Any, file: str | Path, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, file, key)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(str(file), key, f"must be one of {', '.join(map(str, allowed))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, file, key)
            except ConfigError:
                continue
        raise ConfigError(str(file), key, f"has the wrong type {type(value).__name__}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(str(file), key, f"expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        items = [_coerce(item, v, file, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(str(file), key, f"expected a mapping, got {type(value).__name__}")
        _, val_hint = typing.get_args(hint) or (Any, Any)
        return {k: _coerce(val_hint, v, file, f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(str(file), key, f"expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(str(file), key, f"expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(str(file), key, f"expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(str(file), key, f"expected a string, got {value!r}")
        return value
    return value


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error or a duplicate key becomes a ConfigError naming the file and line.

    An unclosed quote is reported on the line where it opens, not at the end of the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "<file>", f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        line, problem = describe_yaml_error(exc, text)
        raise ConfigError(str(path), f"line {line}" if line else "<file>", problem) from exc


def load_execution_config(config_dir: Path) -> ExecutionConfig:
    """Load config/execution_mode.yml; a missing file or directory means the defaults."""
    path = config_dir / "execution_mode.yml"
    if not path.is_file():
        return ExecutionConfig()
    config = build_dataclass(ExecutionConfig, read_yaml(path), path)
    if not 0.0 <= config.autonomous.min_confidence <= 1.0:
        raise ConfigError(str(path), "autonomous.min_confidence", "must be between 0 and 1")
    if config.retry.max_retries < 0:
        raise ConfigError(str(path), "retry.max_retries", "must be >= 0")
    if not 1 <= config.samples.max_rows <= MAX_SAMPLE_ROWS:
        raise ConfigError(str(path), "samples.max_rows", f"must be between 1 and {MAX_SAMPLE_ROWS}")
    return config

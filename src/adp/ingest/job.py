"""What a source kind hands the loader: jobs (one per target table) and the batch each job extracts."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from adp.ingest.source import Source, SourcesConfig, Target


@dataclass(frozen=True)
class Context:
    """Per-ingest settings shared by every job."""

    config: SourcesConfig
    workdir: Path  # scratch space for staged files, removed after the ingest
    progress: Callable[[dict[str, Any]], None] = lambda event: None  # progress events (files, pages, rows, MB/s)
    sleep: Callable[[float], None] = time.sleep  # used for HTTP retry waits (tests pass a recorder)


@dataclass(frozen=True)
class JobState:
    """What the warehouse remembers about a job's table from its last successful load."""

    token: str | None = None  # change token of the inputs last loaded (or found empty)
    columns: tuple[tuple[str, str], ...] | None = None  # (name, type) of the data columns last loaded
    cursor: str | None = None  # incremental cursor: the largest `cursor_field` value loaded so far
    loaded_at: float | None = None  # epoch seconds of the last load that succeeded or found nothing to load


@dataclass
class Batch:
    """Data ready for DuckDB: a SELECT over its readers, producing the data columns plus `_source_file`."""

    sql: str | None  # None: nothing to load (empty input) — a warning, the table stays as it is
    files: int = 0
    bytes: int = 0
    rejects: tuple[str, str] | None = None  # (rejects_table, rejects_scan) the CSV reader writes into
    max_rejects: int = 0  # more rejected rows than this fail the load
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)  # kind-specific numbers (pages, requests, retries)
    inputs: tuple[str, ...] = ()  # what was read (file paths, URLs), for messages


@dataclass(frozen=True)
class Job:
    """One target table of one source: how to tell whether it is stale, and how to extract it."""

    source: Source
    table: str
    target: Target
    database: Path | None  # the DuckDB file; None: the profile's
    extract: Callable[[Context, JobState], Batch]
    token: str | None = None  # changes whenever the inputs change; None: stale after `stale_after_seconds`
    stale_after_seconds: float | None = None
    cursor_field: str | None = None  # incremental: after a load, max(cursor_field) becomes the saved cursor
    missing: str | None = None  # why the source has no input at all (`no files match ...`); None: it has some
    origin: str = ""  # the inputs behind this table (a file, a glob, a URL), for messages

    @property
    def qualified(self) -> str:
        return f"{self.target.schema}.{self.table}"

    def is_stale(self, state: JobState, now: float) -> bool:
        if self.token is not None:
            return state.token != self.token
        if state.loaded_at is None or self.stale_after_seconds is None:
            return True
        return now - state.loaded_at >= self.stale_after_seconds


@dataclass(frozen=True)
class Kind:
    """A source kind: its key under `sources:`, its settings dataclass and how it plans jobs."""

    name: str  # key under `sources:` in sources.yml
    config: type  # frozen dataclass for one source's settings
    plan: Callable[[Source, Context], list[Job]]  # settings -> jobs (cheap: no data is read here)
    validate: Callable[[Source, Path], None] | None = None  # cross-field checks; raise ConfigError
    # The tables known from the settings alone, as (config key, target settings, table name): two sources
    # (or endpoints) loading one table are refused when sources.yml is read. None: known only from `plan`.
    targets: Callable[[Source], list[tuple[str, Target, str]]] | None = None

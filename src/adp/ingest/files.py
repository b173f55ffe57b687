"""The `files` kind: CSV, Parquet, JSON and NDJSON files read by DuckDB's own readers.

Settings (under `sources.files.<name>`)::

    path: data/raw            # directory, relative to the repo root
    pattern: "*.csv"          # glob inside `path` (`**` recurses)
    format: auto              # auto (by extension) | csv | parquet | json | ndjson
    table: null               # one table for every matching file; default: one table per file, named by its stem
    options: {delim: ";"}     # passed to read_csv / read_parquet / read_json unchanged
    max_rejects: 0            # CSV rows DuckDB cannot parse are kept in `_rejects`; more than this fails the load
    required: false           # true: no matching file is an error (`adp run` stops before dbt), not a warning

plus the Target settings (schema, write, primary_key, on_schema_change, database).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from adp.errors import ConfigError
from adp.ingest.source import Source, Target, check_identifier, check_target
from adp.ingest.job import Batch, Context, Job, JobState, Kind
from adp.ingest.sql import call

EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".json": "json",
              ".ndjson": "ndjson", ".jsonl": "ndjson"}
_READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json", "ndjson": "read_json"}
_OPTION = re.compile(r"^[a-z_][a-z0-9_]*$")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class FileSource(Target):
    enabled: bool = True
    path: str = "data/raw"  # directory holding the files, relative to the repo root
    pattern: str = "*"  # glob inside `path`
    format: Literal["auto", "csv", "parquet", "json", "ndjson"] = "auto"
    table: str | None = None  # every matching file into this one table (default: a table per file)
    options: dict[str, Any] = field(default_factory=dict)  # DuckDB reader options, passed unchanged
    max_rejects: int = 0  # malformed CSV rows tolerated before the load fails
    required: bool = False  # a path/pattern that matches no file is an error instead of a warning


def validate(source: Source, file: Path) -> None:
    s: FileSource = source.settings
    check_target(s, file, source.key)
    if s.table is not None:
        check_identifier(s.table, file, f"{source.key}.table")
    for key in s.options:
        if not _OPTION.match(key) or key == "filename":
            raise ConfigError(str(file), f"{source.key}.options.{key}", "is not a reader option adp can pass")
    if s.max_rejects < 0:
        raise ConfigError(str(file), f"{source.key}.max_rejects", "must be >= 0")


def targets(source: Source) -> list[tuple[str, Target, str]]:
    """The table the settings name: `table:`, or the stem of a pattern without wildcards."""
    s: FileSource = source.settings
    if s.table is not None:
        return [(f"{source.key}.table", s, s.table)]
    if not _GLOB.search(s.pattern):
        return [(f"{source.key}.pattern", s, table_name(Path(s.pattern).stem))]
    return []


def plan(source: Source, ctx: Context) -> list[Job]:
    s: FileSource = source.settings
    folder = ctx.config.resolve(s.path)
    where = f"{folder}/{s.pattern}"
    database = ctx.config.resolve(s.database or ctx.config.database) if (s.database or ctx.config.database) else None
    matched = sorted(p for p in folder.glob(s.pattern) if p.is_file()) if folder.is_dir() else []
    if not matched:
        if folder.is_file():
            why = f"`path` {folder} is a file, not a directory (name the directory in `path`, the file in `pattern`)"
        elif not folder.exists():
            why = f"the directory {folder} does not exist"
        else:
            why = f"no files match {where}"
        table = s.table or (table_name(Path(s.pattern).stem) if not _GLOB.search(s.pattern) else table_name(source.name))
        return [Job(source, table, s, database, _extractor(s, [], where), token=_token(s, []), missing=why, origin=where)]
    if s.table is not None:
        groups = {s.table: matched}
    else:
        groups = {}
        for p in matched:
            groups.setdefault(table_name(p.stem), []).append(p)
        clash = next((paths for paths in groups.values() if len(paths) > 1), None)
        if clash:
            raise ValueError(f"{', '.join(map(str, clash))} would all load into {s.schema}.{table_name(clash[0].stem)} "
                             "and replace each other: set `table:` to load them into one table, or rename one")
    return [
        Job(source, table, s, database, _extractor(s, paths, where), token=_token(s, paths),
            origin=str(paths[0]) if len(paths) == 1 else where)
        for table, paths in groups.items()
    ]


def table_name(stem: str) -> str:
    """A file stem as a plain lower-case identifier (`Sales 2024-Q1` -> `sales_2024_q1`)."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", stem).strip("_").lower() or "data"
    return name if not name[0].isdigit() else f"t_{name}"


def file_format(settings: FileSource, path: Path) -> str:
    if settings.format != "auto":
        return settings.format
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown file type `{path.suffix}`; set `format:` (csv, parquet, json, ndjson)")
    return fmt


def _token(settings: FileSource, paths: list[Path]) -> str:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True, default=str).encode())
    for p in paths:
        st = p.stat()
        digest.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _extractor(settings: FileSource, paths: list[Path], where: str):
    def extract(ctx: Context, state: JobState) -> Batch:
        if not paths:
            return Batch(None, warnings=[f"no files match {where}"])
        warnings = [f"{p}: empty file, skipped" for p in paths if p.stat().st_size == 0]
        present = [p for p in paths if p.stat().st_size > 0]
        if not present:
            return Batch(None, files=len(paths), warnings=warnings)
        formats = {file_format(settings, p) for p in present}
        if len(formats) > 1:
            raise ValueError(f"{where}: files of different formats ({', '.join(sorted(formats))}) cannot share one table")
        fmt = formats.pop()
        options: dict[str, Any] = {"filename": "_source_file"}
        rejects = None
        if fmt == "csv" and not settings.options.get("union_by_name") and "store_rejects" not in settings.options:
            suffix = hashlib.sha1(str(present).encode()).hexdigest()[:10]
            rejects = (f"_adp_rejects_{suffix}", f"_adp_rejects_scan_{suffix}")
            options |= {"store_rejects": True, "rejects_table": rejects[0], "rejects_scan": rejects[1]}
        if fmt in ("parquet", "json", "ndjson"):
            options["union_by_name"] = True
        if fmt == "ndjson":
            options["format"] = "newline_delimited"
        options |= settings.options
        sql = "SELECT * FROM " + call(_READERS[fmt], [str(p) for p in present], options)
        size = sum(p.stat().st_size for p in present)
        return Batch(sql, files=len(present), bytes=size, rejects=rejects, max_rejects=settings.max_rejects,
                     warnings=warnings, stats={"format": fmt}, inputs=tuple(map(str, present)))

    return extract


KIND = Kind("files", FileSource, plan, validate, targets)

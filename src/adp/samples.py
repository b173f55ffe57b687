"""Failed data tests, for the person adp escalates to: a few failing rows (read-only), the query that
reproduces them, the seed and source files upstream, the seed lines that hold the failing key, and which
failures share one cause (a duplicate key fails `unique` and the `relationships` test that points at it)."""
from __future__ import annotations

import csv
import logging
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adp.artifacts import Manifest, node_name
from adp.errors import AdpError
from adp.runlog import RunLog
from adp.warehouses import for_project
from adp.warehouses.base import Rows, sample_query
from adp.workspace import Workspace

log = logging.getLogger(__name__)

TEST_FAILURE = "data.test_failure"
KEY_COLUMNS = ("unique_field", "from_field", "value_field")  # what dbt's generic tests name the failing value
MAX_SEED_LINES = 10


@dataclass(frozen=True)
class Upstream:
    """A seed or source the tested model reads, and the file behind it when one is known."""

    node: str  # unique_id of the seed or source
    path: str | None  # seed: its file (relative to the project); source: its external location or ingested inputs
    via: str  # how the path was found: "seed", "external_location" or the sources.yml key that loads it


@dataclass(frozen=True)
class SeedLines:
    """The lines of a seed (or local CSV source) file whose `column` holds one of the failing key values."""

    file: str  # as `Upstream.path`: relative to the project, or absolute
    column: str
    values: tuple[str, ...]  # the failing values looked for, as text
    lines: tuple[tuple[int, str], ...]  # (line number in the file, the line as written)


@dataclass(frozen=True)
class FailedTest:
    """One failed data test, with what a person needs to see its rows and where they come from."""

    node: str  # the test's unique_id
    name: str  # its name (`dbt show --select <name>`)
    test: str  # the generic test's name (`unique`, `relationships`, ...) or "singular"
    model: str | None  # unique_id of the model it is attached to
    column: str | None  # the tested column
    to: tuple[str, str] | None  # relationships: (parent model unique_id, field)
    file: str | None  # the YAML or SQL file that defines the test
    line: int | None
    compiled_path: str | None  # target/compiled/..., relative to the project
    query: str | None  # the query that reproduces the failing rows (None without compiled SQL)
    rows: Rows | None  # the sampled rows; None: no sample (see `no_sample`)
    no_sample: str | None  # why there are no rows to show
    upstream: tuple[Upstream, ...]
    seed_lines: tuple[SeedLines, ...]

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.model or self.node, self.column)


def failed_tests(ws: Workspace, outcome_nodes: list[dict[str, Any]], diagnoses: list[dict[str, Any]],
                 log_to: RunLog | None = None) -> list[FailedTest]:
    """Every `data.test_failure` diagnosis as a FailedTest; each sample is also logged as `failed_rows_sampled`.

    Rows are sampled only when `samples.enabled` (at most `samples.max_rows` per test), on the warehouse's
    read-only `sample_rows`; an engine that cannot gives "no sample".
    """
    manifest = Manifest(ws.project.target_dir)
    by_id = {n["unique_id"]: n for n in outcome_nodes}
    found = []
    for d in diagnoses:
        if d.get("category") != TEST_FAILURE or not d.get("node") or d["node"] in {t.node for t in found}:
            continue
        found.append(_failed_test(ws, manifest, d, by_id.get(d["node"], {}), log_to))
    return found


def _failed_test(ws: Workspace, manifest: Manifest, d: dict[str, Any], result: dict[str, Any],
                 log_to: RunLog | None) -> FailedTest:
    uid = d["node"]
    node = manifest.node(uid) or {}
    details = d.get("details") or {}
    meta = node.get("test_metadata") or {}
    kwargs = meta.get("kwargs") or {}
    model = details.get("model") or node.get("attached_node")
    column = details.get("column") or kwargs.get("column_name")
    depends = list((node.get("depends_on") or {}).get("nodes") or [])
    to = None
    if meta.get("name") == "relationships" and kwargs.get("field"):
        parents = [p for p in depends if p != model]
        to = (parents[0], kwargs["field"]) if len(parents) == 1 else None
    compiled_path = result.get("compiled_path") or node.get("compiled_path")
    sql = _compiled_sql(ws, compiled_path, node)
    config = ws.config.samples
    query = sample_query(sql, config.max_rows) if sql else None
    rows, why = None, None
    if not config.enabled:
        why = "row samples are turned off (`samples.enabled: false`)"
    elif query is None:
        why = "no compiled SQL for this test in target/"
    else:
        rows = for_project(ws.project).sample_rows(ws.project, sql, config.max_rows)
        if rows is None:
            why = "the warehouse could not be read now, or this engine cannot sample read-only"
        elif log_to is not None:
            log_to.emit("failed_rows_sampled", node=uid, query=query, columns=list(rows.columns),
                        rows=[list(r) for r in rows.rows])
    upstream = _upstream(ws, manifest, depends or ([model] if model else []))
    lines = _seed_lines(ws, manifest, model, column, rows) if rows and model and column else ()
    return FailedTest(
        node=uid, name=node.get("name") or node_name(uid),
        test=details.get("test") or meta.get("name") or "singular", model=model, column=column, to=to,
        file=d.get("file"), line=d.get("line"), compiled_path=compiled_path, query=query, rows=rows,
        no_sample=why, upstream=tuple(upstream), seed_lines=tuple(lines),
    )


def _compiled_sql(ws: Workspace, compiled_path: str | None, node: dict[str, Any]) -> str | None:
    """The test's compiled SQL: the file dbt wrote for this run, else the manifest's `compiled_code`."""
    if compiled_path:
        try:
            text = (ws.project.project_dir / compiled_path).read_text(encoding="utf-8")
            if text.strip():
                return text
        except OSError:
            pass
    code = node.get("compiled_code")
    return code if isinstance(code, str) and code.strip() else None


def _ancestors(manifest: Manifest, start: list[str]) -> list[str]:
    """Every node upstream of `start` (and `start` itself), nearest first."""
    seen: dict[str, None] = {}
    todo = deque(start)
    while todo:
        uid = todo.popleft()
        if uid in seen:
            continue
        seen[uid] = None
        todo += manifest.parent_map.get(uid) or (manifest.node(uid) or {}).get("depends_on", {}).get("nodes") or []
    return list(seen)


def _upstream(ws: Workspace, manifest: Manifest, start: list[str]) -> list[Upstream]:
    found = []
    for uid in _ancestors(manifest, start):
        node = manifest.node(uid) or {}
        kind = node.get("resource_type") or uid.split(".")[0]
        if kind == "seed":
            found.append(Upstream(uid, node.get("original_file_path"), "seed"))
        elif kind == "source":
            found.append(_source_file(ws, uid, node))
    return found


def _source_file(ws: Workspace, uid: str, node: dict[str, Any]) -> Upstream:
    """A source's file: dbt-duckdb's `external_location`, else the sources.yml entry of adp's ingestion loading it."""
    for holder in (node.get("config") or {}, node.get("meta") or {}, (node.get("source_meta") or {})):
        if holder.get("external_location"):
            return Upstream(uid, str(holder["external_location"]), "external_location")
    schema, table = node.get("schema") or "", node.get("identifier") or node.get("name") or ""
    ingested = _ingested_by(ws, schema, table)
    if ingested:
        return Upstream(uid, ingested[1], f"`{ingested[0]}` in config/sources.yml")
    return Upstream(uid, None, "no file known (not a seed, no external_location, not loaded by `adp ingest`)")


def _ingested_by(ws: Workspace, schema: str, table: str) -> tuple[str, str] | None:
    """(sources.yml key, inputs) of the ingestion source that loads `schema.table`, from its plan (reads no data)."""
    from adp.ingest.config import load_sources  # ingestion is only needed when a source is upstream
    from adp.ingest.job import Context
    from adp.ingest.registry import KINDS

    try:
        config = load_sources(ws.config_dir)
    except AdpError:
        return None
    if config is None or (config.project and config.resolve(config.project) != ws.project.project_dir):
        return None  # no ingestion, or it feeds another project
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(config, Path(tmp))
        for source in config.sources:
            kind = KINDS.get(source.kind)
            try:
                jobs = kind.plan(source, ctx) if kind and source.enabled else []
            except (AdpError, OSError, ValueError):  # what `adp ingest` would report; here: no file known
                continue
            for job in jobs:
                if job.target.schema.lower() == schema.lower() and job.table.lower() == table.lower():
                    return source.key, job.origin or str(getattr(source.settings, "path", "")) or source.key
    return None


def _seed_lines(ws: Workspace, manifest: Manifest, model: str, column: str, rows: Rows) -> list[SeedLines]:
    """Lines of the CSV files upstream of `model` (seeds, and sources read from a local CSV) whose `column` (same
    name: the key passes through unchanged) holds a failing value."""
    names = [c.lower() for c in rows.columns]
    key = next((names.index(c) for c in (column.lower(), *KEY_COLUMNS) if c in names), None)
    if key is None:
        return []
    values = tuple(dict.fromkeys(str(r[key]) for r in rows.rows if r[key] is not None))
    found = []
    for up in _upstream(ws, manifest, [model]):
        if not up.path or not up.path.lower().endswith(".csv"):
            continue
        node = manifest.node(up.node) or {}
        delimiter = str((node.get("config") or {}).get("delimiter") or ",")
        lines = _matching_lines(ws.project.resolve(up.path), column, set(values), delimiter)
        if lines:
            found.append(SeedLines(up.path, column, values, tuple(lines)))
    return found


def _matching_lines(path: Path, column: str, values: set[str], delimiter: str) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return []
    raw = text.splitlines()
    reader = csv.reader(raw, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    if column.lower() not in header:
        return []
    i = header.index(column.lower())
    found = []
    for row in reader:
        if len(row) > i and row[i].strip() in values:
            n = reader.line_num
            found.append((n, raw[n - 1]))
            if len(found) >= MAX_SEED_LINES:
                break
    return found


def group_by_cause(tests: list[FailedTest], manifest: Manifest) -> list[list[FailedTest]]:
    """Failures with one cause, together, the cause first: tests on one model column; a `relationships` test
    whose parent column fails too; a test whose column has the same name upstream, where a test fails as well.
    The group behind most failures comes first; in a group, the test on the cause's column."""
    failing = {t.key for t in tests}
    ancestry = {t.key: _ancestors(manifest, [t.key[0]])[1:] for t in tests}

    def cause(t: FailedTest) -> tuple[str, str | None]:
        key, seen = t.key, set()
        while key not in seen:
            seen.add(key)
            up = [(a, key[1]) for a in ancestry.get(key, []) if (a, key[1]) in failing]
            nxt = up[-1] if up else None  # the farthest failing ancestor: the earliest place the value is wrong
            if key == t.key and t.to in failing:
                nxt = t.to
            if nxt is None:
                break
            key = nxt
        return key

    groups: dict[tuple[str, str | None], list[FailedTest]] = {}
    for t in tests:
        groups.setdefault(cause(t), []).append(t)
    ordered = [sorted(g, key=lambda t: (t.key != k, t.node)) for k, g in groups.items()]
    return sorted(ordered, key=lambda g: (-len(g), g[0].node))  # the cause behind most failures first

"""What a diagnostician (person, subagent or headless agent) needs about one dbt node, read-only.

Reads the manifest, the node's file, its compiled SQL, the last run's message and the actual columns
of its upstream relations. Never runs dbt and never reads profiles.yml or environment values.
"""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from adp.artifacts import Manifest
from adp.errors import AdpError, UsageError
from adp.runlog import load_result
from adp.warehouses import for_project
from adp.workspace import Workspace

MAX_FILE_CHARS = 20_000
MAX_COMPILED_CHARS = 8_000
MAX_MESSAGE_CHARS = 4_000
MAX_COLUMNS = 200


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None = None  # None when only the manifest's declared columns are known


@dataclass(frozen=True)
class Upstream:
    """A parent of the node: a model, seed, snapshot or source, with its columns."""

    unique_id: str
    name: str
    resource_type: str
    file: str | None  # relative to the dbt project
    relation: str | None  # database.schema.identifier; None for ephemeral models
    columns: list[Column] = field(default_factory=list)
    columns_from: str = "unknown"  # warehouse | manifest | unknown


@dataclass(frozen=True)
class NodeContext:
    """The `adp inspect --json` object (docs/schemas/node-context.schema.json)."""

    unique_id: str
    name: str
    resource_type: str
    file: str | None  # original_file_path, relative to the dbt project
    file_sha256: str | None  # of `file` now: copy it into a proposal's file_sha256
    file_text: str | None  # may be cut at MAX_FILE_CHARS (see `truncated`)
    compiled_sql: str | None  # target/compiled/..., when dbt compiled the node
    status: str | None  # in the run read (`run_id`), None when the node did not run
    message: str | None  # that run's error text: untrusted data, never instructions
    run_id: str | None
    upstream: list[Upstream] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)  # unique_ids of child models/seeds/snapshots
    tests: list[str] = field(default_factory=list)  # unique_ids of tests on the node
    truncated: list[str] = field(default_factory=list)  # which text fields were cut

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_node(ws: Workspace, ref: str, run_id: str | None = None) -> NodeContext:
    """The context of node `ref` (a unique_id or a name) from the project's last manifest.

    Raises UsageError when there is no manifest, no such node, or no saved result for `run_id`.
    """
    manifest = Manifest(ws.project.target_dir)
    if not manifest.exists:
        raise UsageError(f"no {manifest.path}: run the pipeline (or `dbt parse`) first")
    node = find_node(manifest, ref)
    uid = node["unique_id"]
    truncated: list[str] = []
    file = node.get("original_file_path")
    text, sha = _read_file(ws, file)
    compiled = _read_text(ws, node.get("compiled_path"))
    status, message, used_run = _last_message(ws, uid, run_id)
    children = manifest.child_map.get(uid, [])
    return NodeContext(
        unique_id=uid,
        name=node.get("name", uid),
        resource_type=node.get("resource_type", uid.split(".")[0]),
        file=file,
        file_sha256=sha,
        file_text=_cut(text, MAX_FILE_CHARS, "file_text", truncated),
        compiled_sql=_cut(compiled, MAX_COMPILED_CHARS, "compiled_sql", truncated),
        status=status,
        message=_cut(message, MAX_MESSAGE_CHARS, "message", truncated),
        run_id=used_run,
        upstream=_upstream(ws, manifest, manifest.parent_map.get(uid, [])),
        downstream=[c for c in children if not c.startswith(("test.", "unit_test."))],
        tests=[c for c in children if c.startswith(("test.", "unit_test."))],
        truncated=truncated,
    )


def find_node(manifest: Manifest, ref: str) -> dict[str, Any]:
    """A node, source or test by unique_id, else a model/seed/snapshot/test by name."""
    node = manifest.node(ref) or manifest.by_name(ref) or manifest.by_name(ref, ("test", "analysis"))
    if node is not None:
        return node
    names = [n.get("name", "") for n in manifest.nodes.values()]
    close = difflib.get_close_matches(ref.split(".")[-1], names, n=3)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    raise UsageError(f"no node `{ref}` in {manifest.path}.{hint}")


def _read_file(ws: Workspace, rel: str | None) -> tuple[str | None, str | None]:
    if not rel or rel.endswith("profiles.yml"):
        return None, None
    path = ws.project.resolve(rel)
    try:
        data = path.read_bytes()
    except OSError:
        return None, None
    return data.decode("utf-8", errors="replace"), hashlib.sha256(data).hexdigest()


def _read_text(ws: Workspace, rel: str | None) -> str | None:
    return _read_file(ws, rel)[0]


def _cut(text: str | None, limit: int, name: str, truncated: list[str]) -> str | None:
    if text is None or len(text) <= limit:
        return text
    truncated.append(name)
    return text[:limit] + f"\n... [cut: {len(text) - limit} more characters]"


def _last_message(ws: Workspace, uid: str, run_id: str | None) -> tuple[str | None, str | None, str | None]:
    result_run = run_id
    result = load_result(ws.log_dir, run_id)
    if result is None and run_id is not None:
        raise UsageError(f"no saved result for run `{run_id}` in {ws.log_dir / 'runs'} (see `adp history`)")
    if result is None:
        return None, None, None
    if result_run is None:
        files = sorted((ws.log_dir / "runs").glob("*.json"))
        result_run = files[-1].stem if files else None
    for n in result.nodes:
        if n.unique_id == uid:
            return n.status, n.message, result_run
    return None, result.error, result_run


def _upstream(ws: Workspace, manifest: Manifest, parents: list[str]) -> list[Upstream]:
    nodes = [manifest.node(p) or {"unique_id": p} for p in parents]
    keys = {n["unique_id"]: _relation_key(n) for n in nodes}
    try:
        actual = for_project(ws.project).column_types(ws.project, [k for k in keys.values() if k])
    except AdpError:
        actual = {}  # warehouse busy: fall back to the declared columns
    out = []
    for n in nodes:
        key = keys[n["unique_id"]]
        if key in actual:
            cols, source = [Column(c, t) for c, t in actual[key]], "warehouse"
        elif n.get("columns"):
            cols, source = [Column(c) for c in n["columns"]], "manifest"
        else:
            cols, source = [], "unknown"
        out.append(
            Upstream(
                unique_id=n["unique_id"],
                name=n.get("name", n["unique_id"].split(".")[-1]),
                resource_type=n.get("resource_type", n["unique_id"].split(".")[0]),
                file=n.get("original_file_path"),
                relation=".".join(p for p in key if p) if key else None,
                columns=cols[:MAX_COLUMNS],
                columns_from=source,
            )
        )
    return out


def _relation_key(node: dict[str, Any]) -> tuple[str | None, str, str] | None:
    if node.get("config", {}).get("materialized") == "ephemeral" or not node.get("schema"):
        return None
    name = node.get("identifier") if node.get("resource_type") == "source" else node.get("alias")
    name = name or node.get("name")
    return (node.get("database"), node["schema"], name) if name else None

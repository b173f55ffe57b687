"""Read what dbt produced: exit code first, then the JSON log, run_results.json and manifest.json."""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from adp.engine.base import EngineResult
from adp.models import PHASE_NODE, PHASE_OK, PHASE_PARSE, NodeResult, RunResult
from adp.project import DbtProject

RESULT_EVENTS = {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult", "NodeFinished"}


def read_result(project: DbtProject, engine_result: EngineResult) -> RunResult:
    """Turn one invocation into a RunResult, never trusting a run_results.json from another run."""
    er = engine_result
    invocation_id = er.invocation_id
    phase = {0: PHASE_OK, 1: PHASE_NODE}.get(er.exit_code, PHASE_PARSE)
    error = _main_error(er) if phase == PHASE_PARSE else None
    nodes: list[NodeResult] = []
    if phase != PHASE_PARSE:
        run_results = load_run_results(project.target_dir, invocation_id)
        nodes = _nodes_from_run_results(run_results) if run_results else _nodes_from_events(er.events)
        if any(n.failed for n in nodes):
            nodes = _with_files(nodes, Manifest(project.target_dir))
    return RunResult(
        invocation_id=invocation_id,
        exit_code=er.exit_code,
        phase=phase,
        command=er.args,
        nodes=nodes,
        error=error,
        elapsed=round(er.elapsed, 3),
        log_lines=_error_lines(er),
        dropped=_dropped(er) if phase != PHASE_PARSE else [],
    )


def load_run_results(target_dir: Path, invocation_id: str | None) -> dict[str, Any] | None:
    """run_results.json when it was written by `invocation_id`, else None (stale or absent)."""
    path = target_dir / "run_results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if invocation_id is None or data.get("metadata", {}).get("invocation_id") != invocation_id:
        return None
    return data


def node_name(unique_id: str) -> str:
    """The name part of a unique_id (`test.pkg.name.hash` -> name, `model.pkg.name.v2` -> name.v2)."""
    parts = unique_id.split(".")
    if parts[0] == "test":
        return parts[2] if len(parts) > 2 else unique_id
    return ".".join(parts[2:]) or unique_id


def _nodes_from_run_results(data: dict[str, Any]) -> list[NodeResult]:
    return [
        NodeResult(
            unique_id=r["unique_id"],
            name=node_name(r["unique_id"]),
            resource_type=r["unique_id"].split(".")[0],
            status=str(r.get("status")),
            message=r.get("message"),
            execution_time=round(float(r.get("execution_time") or 0.0), 3),
            failures=r.get("failures"),
            relation_name=r.get("relation_name"),
        )
        for r in data.get("results", [])
    ]


def _nodes_from_events(events: list[dict[str, Any]]) -> list[NodeResult]:
    """Fallback when run_results.json is missing: the per-node result events of the JSON log."""
    nodes: dict[str, NodeResult] = {}
    for ev in events:
        if ev["info"].get("name") not in RESULT_EVENTS:
            continue
        info = ev.get("data", {}).get("node_info", {})
        uid = info.get("unique_id")
        if not uid:
            continue
        nodes[uid] = NodeResult(
            unique_id=uid,
            name=info.get("node_name", node_name(uid)),
            resource_type=info.get("resource_type", uid.split(".")[0]),
            status=str(info.get("node_status", "")),
            message=ev["info"].get("msg"),
            execution_time=round(float(ev["data"].get("execution_time") or 0.0), 3),
            failures=ev["data"].get("num_failures"),
        )
    return list(nodes.values())


def _with_files(nodes: list[NodeResult], manifest: "Manifest") -> list[NodeResult]:
    out = []
    for n in nodes:
        node = manifest.node(n.unique_id) or {}
        out.append(
            NodeResult(
                **{
                    **n.__dict__,
                    "name": node.get("name", n.name),
                    "file": node.get("original_file_path"),
                    "compiled_path": node.get("compiled_path"),
                }
            )
        )
    return out


def _dropped(er: EngineResult) -> list[str]:
    """NodeNotFoundOrDisabled warnings for a ref()/source() that was not found (a disabled target is intended)."""
    return [
        ev["info"].get("msg", "")
        for ev in er.events
        if ev.get("info", {}).get("name") == "NodeNotFoundOrDisabled" and ev.get("data", {}).get("disabled") != "True"
    ]


def _main_error(er: EngineResult) -> str:
    """The phase-P error text: MainEncounteredError, else any error-level message, else raw output."""
    main = [ev["data"].get("exc") or ev["info"].get("msg", "") for ev in er.events if ev["info"].get("name") == "MainEncounteredError"]
    if main:
        return "\n".join(m for m in main if m)
    lines = _error_lines(er)
    return "\n".join(lines) if lines else "\n".join(er.text[-40:])


def _error_lines(er: EngineResult) -> list[str]:
    msgs = [ev["info"].get("msg", "") for ev in er.events if ev["info"].get("level") == "error"]
    return [m for m in msgs if m and "upload_to_artifacts_ingest_api" not in m] + [
        t for t in er.text if "upload_to_artifacts_ingest_api" not in t
    ]


class Manifest:
    """target/manifest.json, loaded on first use only (a green run never reads it)."""

    def __init__(self, target_dir: Path):
        self.path = Path(target_dir) / "manifest.json"

    @cached_property
    def data(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def nodes(self) -> dict[str, Any]:
        return self.data.get("nodes", {})

    @property
    def sources(self) -> dict[str, Any]:
        return self.data.get("sources", {})

    @property
    def macros(self) -> dict[str, Any]:
        return self.data.get("macros", {})

    @property
    def parent_map(self) -> dict[str, list[str]]:
        return self.data.get("parent_map", {})

    @property
    def child_map(self) -> dict[str, list[str]]:
        return self.data.get("child_map", {})

    @property
    def project_name(self) -> str | None:
        return self.data.get("metadata", {}).get("project_name")

    def node(self, unique_id: str) -> dict[str, Any] | None:
        return self.nodes.get(unique_id) or self.sources.get(unique_id) or self.data.get("unit_tests", {}).get(unique_id)

    def by_name(self, name: str, resource_types: tuple[str, ...] = ("model", "seed", "snapshot")) -> dict[str, Any] | None:
        for node in self.nodes.values():
            if node.get("name") == name and node.get("resource_type") in resource_types:
                return node
        return None

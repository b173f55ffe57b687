"""What the report keeps from dbt's artifacts in the history DB: each invocation's node timing (from
run_results.json) and what each test checks (from manifest.json, read only when a test is new to the DB)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adp.artifacts import Manifest, node_name
from adp.history_db import DataTestMeta, HistoryDB, NodeSpan

TEST_TYPES = ("test", "unit_test")


def record_artifacts(target_dir: Path, log_dir: Path) -> bool:
    """Store the timing and test metadata of the latest dbt invocation, when run_results.json belongs to
    one of adp's runs (logs/runs/<run_id>.json names its invocation); False when there was nothing to store."""
    results = _json(Path(target_dir) / "run_results.json")
    invocation_id = results.get("metadata", {}).get("invocation_id")
    run_id = _run_of(Path(log_dir), invocation_id) if invocation_id else None
    if run_id is None:
        return False
    rows = [r for r in results.get("results") or [] if isinstance(r, dict) and isinstance(r.get("unique_id"), str)]
    tests = [r["unique_id"] for r in rows if r["unique_id"].split(".")[0] in TEST_TYPES]
    with HistoryDB(log_dir) as db:
        if db.has_timings(invocation_id):
            new_tests = []
        else:
            db.save_timings(run_id, invocation_id, [s for s in map(span, rows) if s is not None])
            new_tests = sorted(set(tests) - set(db.test_meta(tests)))
        if new_tests:
            metas = data_test_metas(Manifest(Path(target_dir)))
            known = {m.unique_id for m in metas}
            # a test the manifest does not describe is stored too, so later reports do not parse it again for it
            db.save_test_meta(metas + [DataTestMeta(uid, node_name(uid), "unknown", None, None)
                                       for uid in new_tests if uid not in known])
    return True


def span(result: dict[str, Any]) -> NodeSpan | None:
    """A run_results.json result's span: its first `timing` start to its last end (None without timing).

    >>> span({"unique_id": "model.p.a", "status": "success", "thread_id": "Thread-1", "timing": [
    ...     {"name": "compile", "started_at": "2024-01-01T00:00:00.5Z", "completed_at": "2024-01-01T00:00:01Z"},
    ...     {"name": "execute", "started_at": "2024-01-01T00:00:01Z", "completed_at": "2024-01-01T00:00:03Z"}]}).completed_at
    datetime.datetime(2024, 1, 1, 0, 0, 3)
    """
    starts, ends = [], []
    for t in result.get("timing") or []:
        if isinstance(t, dict):
            starts += [d for d in [_ts(t.get("started_at"))] if d]
            ends += [d for d in [_ts(t.get("completed_at"))] if d]
    if not starts or not ends:
        return None
    return NodeSpan(result["unique_id"], str(result.get("status", "")), result.get("thread_id"), min(starts), max(ends))


def data_test_metas(manifest: Manifest) -> list[DataTestMeta]:
    """Every data and unit test of the manifest with the node it is attached to and its column."""
    out = []
    for uid, node in manifest.data.get("unit_tests", {}).items():
        model = next((p for p in (node.get("depends_on") or {}).get("nodes", []) if p.startswith("model.")), None)
        out.append(DataTestMeta(uid, node.get("name", uid), "unit", model, None))
    for uid, node in manifest.nodes.items():
        if node.get("resource_type") != "test":
            continue
        meta = node.get("test_metadata") or {}
        kwargs = meta.get("kwargs") or {}
        model = node.get("attached_node") or next(
            (p for p in (node.get("depends_on") or {}).get("nodes", []) if not p.startswith("macro.")), None)
        column = node.get("column_name") or kwargs.get("column_name")
        out.append(DataTestMeta(uid, node.get("name", uid), meta.get("name") or "singular", model,
                                column if isinstance(column, str) else None))
    return out


def _run_of(log_dir: Path, invocation_id: str) -> str | None:
    """The run whose saved result (logs/runs/<run_id>.json, newest first) came from `invocation_id`."""
    runs = log_dir / "runs"
    for path in sorted(runs.glob("*.json"), reverse=True)[:3] if runs.is_dir() else []:
        if _json(path).get("invocation_id") == invocation_id:
            return path.stem
    return None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        return None
    return d.astimezone(timezone.utc).replace(tzinfo=None) if d.tzinfo else d

"""Data-quality checks: snapshot each good run, then compare the warehouse now with the last good snapshot.

A fix can keep `dbt build` green and still change what the data says (a join that drops rows, a column
that becomes all NULL). `snapshot_run` records row counts, columns, null counts and min/max per relation
after a green run; `validate` compares the current state and dbt's test results against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from adp.artifacts import Manifest
from adp.history_db import HistoryDB, LineageNode, RelationProfile, RelationRef
from adp.models import RunResult
from adp.runlog import RunLog, load_result, new_run_id
from adp.validate.findings import CHECKS, SEVERITIES, Context, Finding, Pair, changed_tests
from adp.warehouses import for_project
from adp.workspace import Workspace

__all__ = ["Finding", "accept_current", "check_good_run", "emptied", "has_errors", "record_lineage", "snapshot_run", "validate"]

RELATION_TYPES = ("model", "seed", "snapshot")
TEST_TYPES = ("test", "unit_test")


def snapshot_run(ws: Workspace, run_id: str, result: RunResult) -> None:
    """After a green run: store every relation's profile, dbt's test statuses and the lineage under `run_id`."""
    current = Current.read(ws)
    _save(ws, run_id, current, result)


def check_good_run(ws: Workspace, run_id: str, result: RunResult, log: RunLog | None = None) -> list[Finding]:
    """A green run: validate it (when enabled) and make it the baseline unless validation found an error.

    The warehouse is profiled once for both steps (profiling is adp's largest cost on a green run).
    """
    current = Current.read(ws)
    findings = _validate(ws, current, result, log) if ws.config.validate.enabled else []
    # bad data never becomes the baseline (`adp validate --accept` can make it one); lineage is always kept
    _save(ws, run_id, current, result, baseline=not has_errors(findings))
    return findings


def validate(ws: Workspace, result: RunResult | None = None, log: RunLog | None = None) -> list[Finding]:
    """Findings for the warehouse now against the last good snapshot (one info finding when there is none).

    `result` gives dbt's current test statuses (default: the latest saved run result). With `log`, the
    findings are also written to the run log as one `validation` event.
    """
    return _validate(ws, Current.read(ws), result, log)


@dataclass(frozen=True)
class Current:
    """The project's relations and their profiles as the warehouse has them now.

    Only small facts are kept from manifest.json (relations, lineage, freshness fields), and the
    manifest is released before the warehouse is profiled, so the two never weigh on memory together.
    """

    refs: list[RelationRef]
    lineage: list[LineageNode] | None  # None when there is no manifest
    loaded_at: dict[str, str | None]  # source unique_id -> its loaded_at_field
    profiles: list[RelationProfile]

    @classmethod
    def read(cls, ws: Workspace) -> "Current":
        refs, lineage, loaded_at = _manifest_facts(ws)
        return cls(refs, lineage, loaded_at, _profiles(ws, refs))


def _manifest_facts(ws: Workspace) -> tuple[list[RelationRef], list[LineageNode] | None, dict[str, str | None]]:
    manifest = Manifest(ws.project.target_dir)
    lineage = lineage_nodes(manifest) if manifest.exists else None
    loaded_at = {uid: src.get("loaded_at_field") for uid, src in manifest.sources.items()}
    return relation_refs(manifest), lineage, loaded_at


def _save(ws: Workspace, run_id: str, current: Current, result: RunResult, baseline: bool = True) -> None:
    """Store the lineage and, for a new baseline, the profiles and dbt's test statuses."""
    tests = {n.unique_id: (n.status, n.failures) for n in result.nodes if n.resource_type in TEST_TYPES}
    with HistoryDB(ws.log_dir) as db:
        if baseline:
            db.save_snapshot(run_id, current.profiles, tests)
            db.prune(ws.config.validate.keep_snapshots)
        if current.lineage is not None:
            db.save_lineage(current.lineage)


def _validate(ws: Workspace, current: Current, result: RunResult | None, log: RunLog | None) -> list[Finding]:
    with HistoryDB(ws.log_dir, read_only=True) as db:
        baseline = db.last_good_run()
        before = db.snapshot(baseline) if baseline else {}
        before_tests = db.test_statuses(baseline) if baseline else {}
    if baseline is None:
        findings = [Finding("info", None, None, None, None,
                            "No earlier good run to compare with: this run's snapshot becomes the baseline.", "baseline")]
    else:
        findings = _compare(ws, current, before, before_tests, result if result is not None else load_result(ws.log_dir))
    if log is not None:
        log.emit(
            "validation",
            baseline=baseline,
            findings=[f.to_dict() for f in findings],
            errors=sum(f.severity == "error" for f in findings),
            warnings=sum(f.severity == "warn" for f in findings),
        )
    return findings


def accept_current(ws: Workspace) -> str:
    """Make the warehouse as it is now the baseline (after an intended change); returns the snapshot's id."""
    run_id = "accepted-" + new_run_id()
    result = load_result(ws.log_dir) or RunResult(None, 0, "ok", [])
    snapshot_run(ws, run_id, result)
    return run_id


def emptied(ws: Workspace, files: list[str]) -> list[str]:
    """Tables built from `files` that have no rows now, although the last good run saw rows in them or there
    is no good run yet: a fix that empties a model (`where 0 = 1`, `limit 0`) hides its failure."""
    manifest = Manifest(ws.project.target_dir)
    uids = {uid for uid, n in manifest.nodes.items() if n.get("original_file_path") in files}
    empty = [p for p in _profiles(ws, [r for r in relation_refs(manifest) if r.unique_id in uids]) if p.row_count == 0]
    if not empty:
        return []
    with HistoryDB(ws.log_dir, read_only=True) as db:
        baseline = db.last_good_run()
        before = db.snapshot(baseline) if baseline else {}
    return [p.unique_id for p in empty if before.get(p.unique_id) is None or before[p.unique_id].row_count != 0]


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def record_lineage(ws: Workspace) -> bool:
    """Refresh the stored lineage from target/manifest.json; False when there is no manifest."""
    manifest = Manifest(ws.project.target_dir)
    if not manifest.exists:
        return False
    with HistoryDB(ws.log_dir) as db:
        db.save_lineage(lineage_nodes(manifest))
    return True


def relation_refs(manifest: Manifest) -> list[RelationRef]:
    """Every relation the project builds or reads: non-ephemeral models, seeds, snapshots and sources."""
    refs = []
    for uid, node in manifest.nodes.items():
        if node.get("resource_type") in RELATION_TYPES and node.get("config", {}).get("materialized") != "ephemeral":
            refs.append(RelationRef(uid, node["resource_type"], node.get("database"), node.get("schema", ""),
                                    node.get("alias") or node.get("name", uid.split(".")[-1])))
    for uid, src in manifest.sources.items():
        refs.append(RelationRef(uid, "source", src.get("database"), src.get("schema", ""),
                                src.get("identifier") or src.get("name", uid.split(".")[-1])))
    return refs


def lineage_nodes(manifest: Manifest) -> list[LineageNode]:
    """Models, seeds, snapshots and sources with their parents among them (tests and macros left out)."""
    nodes = {
        uid: n for uid, n in {**manifest.nodes, **manifest.sources}.items()
        if n.get("resource_type") in (*RELATION_TYPES, "source")
    }
    return [
        LineageNode(uid, n.get("name", uid.split(".")[-1]), n["resource_type"], n.get("original_file_path"),
                    [p for p in manifest.parent_map.get(uid, []) if p in nodes])
        for uid, n in nodes.items()
    ]


def _profiles(ws: Workspace, refs: list[RelationRef]) -> list[RelationProfile]:
    return for_project(ws.project).profile_relations(ws.project, refs)


def _compare(
    ws: Workspace, current: Current, before: dict[str, RelationProfile], before_tests: dict, result: RunResult | None
) -> list[Finding]:
    in_project = {r.unique_id for r in current.refs}
    after = {p.unique_id: p for p in current.profiles}
    ctx = Context(ws.config.validate, datetime.now(timezone.utc))
    findings: list[Finding] = []
    for uid in sorted(set(before) | set(after)):
        pair = Pair(uid, before.get(uid), after.get(uid), uid in in_project, current.loaded_at.get(uid))
        for check in CHECKS:
            findings.extend(check(pair, ctx))
    if result is not None:
        current = {n.unique_id: (n.status, n.failures) for n in result.nodes if n.resource_type in TEST_TYPES}
        findings.extend(changed_tests(before_tests, current))
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))

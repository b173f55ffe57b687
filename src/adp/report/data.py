"""What the report shows, read from the run log and the history DB only, robust to missing fields."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adp.history_db import HistoryDB, LineageNode, NodeSpan
from adp.models import FAILED_STATUSES
from adp.report.data_tests import DataTestRow, DataTestTracker, names_a_test
from adp.runlog import RunSummary, history, read_events

MAX_TEXT = 4000  # characters of one message or diff kept in the report
MAX_DETAILED_RUNS = 100  # newest runs with something to show get a detail section


@dataclass
class Step:
    """One thing that happened in a run, in log order (a failure, diagnosis, fix, rollback, ...)."""

    kind: str  # failure | parse_error | diagnosis | proposal | fix | rollback | rejected | refused | superseded | retry | validation
    ts: str
    data: dict[str, Any]
    count: int = 1  # identical diagnoses of one run are shown once, with their count


@dataclass
class RunView:
    """One row of the timeline plus the steps shown in its detail section."""

    summary: RunSummary
    rollbacks: int = 0
    errors: int = 0  # findings of the run's last validation
    warnings: int = 0
    steps: list[Step] = field(default_factory=list)
    findings: str | None = None  # logs/findings/<run_id>.md relative to the report, when the file exists

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def eventful(self) -> bool:
        return any(s.kind != "validation" or s.data.get("shown") for s in self.steps)


@dataclass
class NodeTiming:
    unique_id: str
    last: float
    mean: float
    runs: int


@dataclass
class ReportData:
    runs: list[RunView]
    node_status: dict[str, str]  # unique_id -> latest status in the log
    timings: list[NodeTiming]  # slowest first
    lineage: list[LineageNode]
    row_counts: dict[str, list[tuple[str, int]]]  # relation -> [(run_id, rows)]
    latest_findings: list[dict[str, Any]]
    latest_findings_run: str | None
    tests: list[DataTestRow] = field(default_factory=list)  # the latest run's tests, failures first
    tests_run: str | None = None
    timeline: tuple[str, str, list[NodeSpan]] | None = None  # (run_id, invocation_id, spans) of the newest invocation


def collect(log_dir: Path, slowest: int = 15) -> ReportData:
    """One pass over the log for steps, statuses and timings; the timeline rows come from runlog.history."""
    views = {s.run_id: RunView(s) for s in history(log_dir)}
    status: dict[str, str] = {}
    sums: dict[str, list[float]] = {}  # unique_id -> [total, count, last]
    latest: tuple[str | None, list[dict[str, Any]]] = (None, [])
    tests = DataTestTracker()
    for ev in read_events(log_dir):
        view = views.get(ev.get("run_id", ""))
        kind = ev.get("event")
        if kind == "node_finished" and isinstance(ev.get("node"), str):
            node, st = ev["node"], str(ev.get("status", ""))
            if names_a_test(node):
                tests.finished(ev)
            status[node] = st
            t = _num(ev.get("execution_time"))
            acc = sums.setdefault(node, [0.0, 0, 0.0])
            acc[0] += t
            acc[1] += 1
            acc[2] = t
            if view is not None and st in FAILED_STATUSES:
                view.steps.append(Step("failure", ev.get("ts", ""), _pick(ev, "node", "status", "file", "message", "failures")))
        elif kind == "failed_rows_sampled":
            tests.sampled(ev)
            continue
        elif view is None:
            continue
        elif kind == "dbt_finished" and ev.get("error"):
            view.steps.append(Step("parse_error", ev.get("ts", ""), {"message": _clip(ev.get("error"))}))
        elif kind == "diagnosis":
            view.steps.append(Step("diagnosis", ev.get("ts", ""), _diagnosis(ev)))
        elif kind == "fix_proposed":
            view.steps.append(Step("proposal", ev.get("ts", ""), _proposal(ev.get("proposal") or ev)))
        elif kind == "fix_applied":
            view.steps.append(Step("fix", ev.get("ts", ""), _pick(ev, "proposal_id", "rule", "file", "diff", "approved_by")))
        elif kind == "rollback":
            view.rollbacks += 1
            view.steps.append(Step("rollback", ev.get("ts", ""), _pick(ev, "proposal_id", "rule", "reason")))
        elif kind in _DECISIONS:
            view.steps.append(Step(_DECISIONS[kind], ev.get("ts", ""), _pick(ev, "proposal_id", "rule", "reason", "by")))
        elif kind == "retry":
            view.steps.append(Step("retry", ev.get("ts", ""), _pick(ev, "attempt", "delay", "reason")))
        elif kind == "validation":
            findings = [f for f in ev.get("findings") or [] if isinstance(f, dict)]
            view.errors = sum(f.get("severity") == "error" for f in findings)
            view.warnings = sum(f.get("severity") == "warn" for f in findings)
            shown = [f for f in findings if f.get("severity") in ("error", "warn")]
            view.steps.append(Step("validation", ev.get("ts", ""), {"findings": findings, "shown": bool(shown)}))
            latest = (view.run_id, findings)
    written = _findings_files(Path(log_dir))
    for view in views.values():
        applied = {s.data.get("proposal_id") for s in view.steps if s.kind == "fix"}
        for step in view.steps:  # an applied proposal's diff is shown once, with the fix
            if step.kind == "proposal" and step.data.get("id") in applied:
                step.data.pop("diff", None)
        view.steps = _collapse_diagnoses(view.steps)
        if f"{view.run_id}.md" in written:
            view.findings = f"findings/{view.run_id}.md"
    timings = sorted(
        (NodeTiming(uid, round(acc[2], 3), round(acc[0] / acc[1], 3), int(acc[1])) for uid, acc in sums.items() if acc[1]),
        key=lambda t: -t.last,
    )[:slowest]
    with HistoryDB(log_dir, read_only=True) as db:
        lineage = db.lineage()
        rows = db.row_counts()
        meta = db.test_meta(list(tests.latest))
        timeline = db.latest_timings()
    return ReportData(list(views.values()), status, timings, lineage, rows, latest[1], latest[0],
                      tests.rows(meta), tests.run_id, timeline)


_DECISIONS = {"fix_rejected": "rejected", "fix_refused": "refused", "proposal_superseded": "superseded"}


def _findings_files(log_dir: Path) -> set[str]:
    try:
        return {p.name for p in (log_dir / "findings").iterdir()}
    except OSError:
        return set()


def _collapse_diagnoses(steps: list[Step]) -> list[Step]:
    """Keep the first of identical diagnoses of a run (a run re-diagnoses each attempt), counting the rest."""
    first: dict[tuple, Step] = {}
    out = []
    for step in steps:
        if step.kind == "diagnosis":
            d = step.data
            key = (d.get("category"), d.get("node"), d.get("file"), d.get("line"), d.get("summary"))
            if key in first:
                first[key].count += 1
                continue
            first[key] = step
        out.append(step)
    return out


def _num(value: Any) -> float:
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _clip(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n… ({len(text) - MAX_TEXT} more characters)"


def _pick(ev: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: _clip(ev[k]) if isinstance(ev.get(k), str) else ev.get(k) for k in keys if ev.get(k) is not None}


def _diagnosis(ev: dict[str, Any]) -> dict[str, Any]:
    d = ev.get("diagnosis") if isinstance(ev.get("diagnosis"), dict) else ev
    out = _pick(d, "category", "node", "file", "line", "summary", "identifier", "transient")
    out["evidence"] = [_clip(e) for e in d.get("evidence") or [] if e][:10]
    return out


def _proposal(p: dict[str, Any]) -> dict[str, Any]:
    out = _pick(p, "id", "rule", "confidence", "rationale", "diff", "source", "needs_review")
    edits = p.get("edits") or []
    out["files"] = sorted({e.get("path") for e in edits if isinstance(e, dict) and e.get("path")})
    return out

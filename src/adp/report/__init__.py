"""logs/report.html: one self-contained page (inline CSS, JS and SVG; no network) built from the run log
and the history DB: the run timeline, failures with their diagnoses, fixes with diffs, rollbacks,
validation findings, the tests of the latest run, the latest invocation's node timeline, the slowest
nodes, rows over time and the lineage graph (coloured by each node's own status and its tests').
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import duckdb
import jinja2
from markupsafe import Markup

from adp.artifacts import node_name
from adp.report import charts
from adp.report.artifacts import record_artifacts
from adp.report.data import MAX_DETAILED_RUNS, ReportData, collect
from adp.report.data_tests import MAX_TESTS, sparkline, worst_by_model
from adp.report.lineage import lineage_svg
from adp.report.timeline import MAX_NODES, timeline_svg
from adp.workspace import Workspace

__all__ = ["REPORT_NAME", "render", "write_report"]

REPORT_NAME = "report.html"
log = logging.getLogger(__name__)
_HERE = Path(__file__).parent


def write_report(ws: Workspace, refresh_lineage: bool = True) -> Path:
    """Write logs/report.html atomically, first refreshing the stored lineage from the latest manifest
    (a green `adp run` has just stored it and passes `refresh_lineage=False`) and storing the latest
    invocation's node timing and test metadata in the history DB (see adp.report.artifacts)."""
    from adp.validate import record_lineage

    if refresh_lineage:
        record_lineage(ws)
    try:
        record_artifacts(ws.project.target_dir, ws.log_dir)
    except duckdb.Error as exc:  # the history DB is busy or damaged: the report goes out without the new timing
        log.warning("report: node timing and test metadata not stored: %s", exc)
    html = render(collect(ws.log_dir), project=str(ws.project.project_dir))
    path = ws.log_dir / REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render(data: ReportData, project: str = "") -> str:
    """The report's HTML for `data` (see adp.report.data.collect)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE), autoescape=True, undefined=jinja2.ChainableUndefined)
    env.filters["diff"] = _diff_html
    env.filters["node_name"] = node_name
    detail = [r for r in data.runs if r.eventful]
    shown = list(reversed(detail[-MAX_DETAILED_RUNS:]))
    kinds = Counter(n.resource_type for n in data.lineage)
    tests = data.tests[:MAX_TESTS]
    spans = data.timeline[2] if data.timeline else []
    return env.get_template("report.html.j2").render(
        project=project,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        css=Markup((_HERE / "report.css").read_text(encoding="utf-8")),
        js=Markup((_HERE / "report.js").read_text(encoding="utf-8")),
        runs=data.runs,
        status_counts=sorted(Counter(r.summary.status for r in data.runs).items()),
        fixes_total=sum(r.summary.fixes_applied for r in data.runs),
        rollbacks_total=sum(r.rollbacks for r in data.runs),
        detail_runs=shown,
        detailed={r.run_id for r in shown},
        hidden_details=len(detail) - len(shown),
        latest_findings=data.latest_findings,
        latest_findings_run=data.latest_findings_run,
        duration_chart=Markup(charts.durations(data.runs)),
        slowest_chart=Markup(charts.slowest(data.timings)),
        sparks=[Markup(charts.sparkline(rel, pts)) for rel, pts in data.row_counts.items() if pts],
        lineage_svg=Markup(lineage_svg(data.lineage, data.node_status, worst_by_model(data.tests))),
        tests=tests,
        tests_run=data.tests_run,
        tests_hidden=len(data.tests) - len(tests),
        test_counts=sorted(Counter(t.status for t in data.tests).items()),
        test_sparks=[Markup(sparkline(t.history)) for t in tests],
        timeline_run=data.timeline[0] if data.timeline else None,
        timeline_chart=Markup(timeline_svg(spans)),
        timeline_hidden=max(len(spans) - MAX_NODES, 0),
        lineage_counts=", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items())) or "empty",
    )


def _diff_html(diff: object) -> Markup:
    """A unified diff with added, removed and hunk lines marked for colouring."""
    out = []
    for line in str(diff).splitlines():
        cls = "hunk" if line.startswith("@@") else "add" if line.startswith("+") and not line.startswith("+++") else (
            "del" if line.startswith("-") and not line.startswith("---") else "ctx")
        out.append(f'<span class="{cls}">{escape(line) or " "}</span>')
    return Markup("".join(out))

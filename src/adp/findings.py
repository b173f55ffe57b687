"""logs/findings/<run_id>.md: what a person needs, in one read, when adp stops or gives up."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Callable

from adp.apply import AppliedFix
from adp.artifacts import Manifest, node_name
from adp.models import FAILED_STATUSES, Diagnosis, FixProposal
from adp.runlog import RunLog
from adp.samples import TEST_FAILURE, FailedTest, failed_tests, group_by_cause
from adp.session import Outcome
from adp.workspace import Workspace

NEXT_STEPS = {
    "failed": ["adp tried what it could; the diagnosis and the rolled-back attempts above show where it stopped."],
}
NO_SUGGESTION = "No fix was suggested: the failure needs a decision about intent (data, design or environment)."
ENGINE_LINE = re.compile(r"\bLINE (\d+)\b")


def write_findings(
    ws: Workspace,
    outcome: Outcome,
    escalated: list[tuple[Diagnosis, FixProposal | None]],
    rolled_back: list[tuple[AppliedFix, str]],
    diff: Callable[[FixProposal], str],
    log: RunLog | None = None,
) -> Path:
    """Write the findings file for a run that stopped for a person or gave up, and return its path.

    Failed data tests get their first failing rows (`samples` config), each also logged to `log` as a
    `failed_rows_sampled` event.
    """
    tests = failed_tests(ws, outcome.nodes, outcome.diagnoses, log)
    groups = group_by_cause(tests, Manifest(ws.project.target_dir)) if tests else []
    lines = [f"# Run {outcome.run_id}: {outcome.status}", "", f"Project: `{outcome.project_dir}`", ""]
    failed = [n for n in outcome.nodes if n["status"] in FAILED_STATUSES]
    compiled = {n["unique_id"]: n.get("compiled_path") for n in outcome.nodes}
    lines += ["## What failed", ""]
    if outcome.error:
        lines += ["dbt stopped before running any node:", "", "```", outcome.error.strip(), "```", ""]
    for n in failed:
        lines += [f"- `{n['unique_id']}` ({n.get('file') or 'file unknown'}): {n['status']}"]
        if n.get("message"):
            lines += ["", "```", n["message"].strip(), "```", ""]
    lines += ["", "## Diagnosis", ""]
    for d in outcome.diagnoses:
        where = f"{d.get('file') or '?'}" + (f" line {d['line']}" if d.get("line") else "")
        lines += [f"- **{d['category']}** in `{where}`: {d['summary']}"]
        lines += [f"  - evidence: `{e}`" for e in d.get("evidence", [])[:5]]
        note = _engine_line_note(d, compiled.get(d.get("node") or ""))
        if note:
            lines += [f"  - {note}"]
        if d.get("candidates"):
            best = ", ".join(f"{c['name']} ({c['score']:.2f})" for c in d["candidates"][:3])
            lines += [f"  - candidates: {best}"]
    for i, group in enumerate(groups, 1):
        lines += ["", _group_title(i, group, len(groups)), ""] + _group_lines(ws, group)
    if rolled_back:
        lines += ["", "## Tried and rolled back", ""]
        for fix, reason in rolled_back:
            lines += [f"- `{fix.proposal.rule}` (confidence {fix.proposal.confidence:.2f}): {reason}", "", "```diff", fix.diff.strip(), "```", ""]
    suggestions = [(d, p) for d, p in escalated if p is not None]
    why = {n["id"]: n["reason"] for n in outcome.not_applied}
    if suggestions:
        lines += ["", "## Suggested fix", ""]
        for d, p in suggestions:
            lines += [
                f"- proposal `{p.id}`, rule `{p.rule}`, confidence {p.confidence:.2f}"
                + (" (needs review: it changes what the data means or needs intent)" if p.needs_review else ""),
                f"  - {p.rationale}",
            ]
            if p.id in why:
                lines += [f"  - not applied: {why[p.id]}"]
            if p.action:
                lines += [f"  - run action: `{p.action}`"]
            text = diff(p).strip()
            if text:
                lines += ["", "```diff", text, "```", ""]
    steps = NEXT_STEPS.get(outcome.status, []) + [_step(n) for n in outcome.not_applied]
    if outcome.status == "needs_review" and not suggestions:
        steps.append(NO_SUGGESTION)
    steps += _commands(ws, outcome, groups, {p.node for _, p in suggestions if p.node})
    lines += ["", "## Next steps", ""] + [f"- {s}" for s in dict.fromkeys(steps)]
    path = ws.log_dir / "findings" / f"{outcome.run_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _engine_line_note(d: dict[str, Any], compiled_path: str | None) -> str | None:
    """Say that the engine's `LINE n` counts lines of the SQL dbt sent it, not lines of the model file."""
    m = ENGINE_LINE.search(d.get("message") or "")
    if not m:
        return None
    sent = "the SQL dbt sent to the engine"
    if compiled_path and compiled_path.startswith("target/compiled/"):
        run = "target/run/" + compiled_path.removeprefix("target/compiled/")
        sent += f" (the compiled SQL `{compiled_path}` inside dbt's query comment and DDL, as in `{run}`)"
    note = f"the engine's `LINE {m.group(1)}` counts lines of {sent}, not lines of `{d.get('file') or 'the model file'}`"
    mapped = (d.get("details") or {}).get("compiled_line")
    if d.get("file") and d.get("line"):
        how = f"adp traced its text (compiled line {mapped})" if mapped else "the diagnosis points"
        return note + f"; {how} to `{d['file']}` line {d['line']}."
    return note + "; adp could not trace it to a line of the model file."


def _group_title(i: int, group: list[FailedTest], total: int) -> str:
    cause = group[0]
    what = f"`{_short(cause.model)}.{cause.column}`" if cause.column else f"`{cause.name}`"
    label = f"## Failed data test {i} of {total}" if total > 1 else "## Failed data test"
    return f"{label}: {what}" + (f" ({len(group)} failures, likely one cause)" if len(group) > 1 else "")


def _group_lines(ws: Workspace, group: list[FailedTest]) -> list[str]:
    cause, out = group[0], []
    if len(group) > 1:
        also = ", ".join(f"`{t.test}` on `{_short(t.model)}.{t.column}`" for t in group[1:])
        verb = "reads that key, fails" if len(group) == 2 else "read that key, fail"
        out += [f"`{cause.test}` on `{_short(cause.model)}.{cause.column}` fails, and {also}, which {verb} too: "
                "most likely one cause, so start with the first.", ""]
    for t in group:
        out += [f"### `{t.name}` ({t.test}" + (f" on `{_short(t.model)}.{t.column}`" if t.column else "") + ")", ""]
        if t.rows is not None:
            shown = f"first {ws.config.samples.max_rows}" if len(t.rows.rows) >= ws.config.samples.max_rows else "all"
            out += [f"Failing rows ({shown}, read-only):", ""] + _table(t) + [""]
        else:
            out += [f"No sample: {t.no_sample}.", ""]
        if t.query:
            out += [f"The query that reproduces them (`{t.compiled_path or 'manifest compiled_code'}` with a LIMIT):", "",
                    "```sql", t.query.strip(), "```", ""]
        if t.upstream:
            out += ["Upstream data:", ""] + [
                f"- `{u.path}` ({u.via}: `{u.node}`)" if u.path else f"- `{u.node}`: {u.via}" for u in t.upstream
            ] + [""]
        for s in t.seed_lines:
            vals = ", ".join(f"`{v}`" for v in s.values)
            out += [f"Lines of `{s.file}` whose `{s.column}` is {vals}:", "", "```"]
            out += [f"{n}: {text}" for n, text in s.lines] + ["```", ""]
    return out


def _table(t: FailedTest) -> list[str]:
    assert t.rows is not None
    cell = lambda v: "null" if v is None else str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return (["| " + " | ".join(map(cell, t.rows.columns)) + " |", "|" + "---|" * len(t.rows.columns)]
            + ["| " + " | ".join(map(cell, r)) + " |" for r in t.rows.rows])


def _short(uid: str | None) -> str:
    return node_name(uid) if uid else "?"


def _dirs(ws: Workspace) -> str:
    out = f"--project-dir {shlex.quote(str(ws.project.project_dir))}"
    if ws.project.profiles_dir is not None:
        out += f" --profiles-dir {shlex.quote(str(ws.project.profiles_dir))}"
    return out


def _correct_data(dirs: str, t: FailedTest) -> str:
    """Where to correct the data and the command that rebuilds from it (adp re-ingests a changed ingested file)."""
    if t.seed_lines:
        where = "; ".join(f"`{s.file}` line{'s' if len(s.lines) > 1 else ''} {', '.join(str(n) for n, _ in s.lines)}"
                          for s in t.seed_lines)
    else:
        where = ", ".join(f"`{u.path}`" for u in t.upstream if u.path) or "the upstream data"
    files = {s.file for s in t.seed_lines} or {u.path for u in t.upstream if u.path}
    kinds = {u.via for u in t.upstream if u.path in files}
    if kinds == {"seed"}:
        seeds = " ".join(f"{_short(u.node)}+" for u in t.upstream if u.path in files)
        rebuild = f"`dbt build {dirs} --select {seeds}`"
    elif any("sources.yml" in k for k in kinds):
        rebuild = f"`adp run {dirs} --select {_short(t.model)}+` (it ingests the changed file first)"
    else:
        rebuild = f"`dbt build {dirs} --select {_short(t.model)}+`"
    return f"If the data is wrong, correct {where}, then rebuild: {rebuild}."


def _commands(ws: Workspace, outcome: Outcome, groups: list[list[FailedTest]], proposed: set[str]) -> list[str]:
    """Concrete commands for every escalation: reproduce, inspect, fix, re-run."""
    dirs, steps = _dirs(ws), []
    for group in groups:
        cause = group[0]
        for t in group:
            steps.append(f"See `{t.name}`'s failing rows: `dbt show {dirs} --select {t.name} --limit {ws.config.samples.max_rows}`"
                         + (" (or run the query above read-only)." if t.query else "."))
        if cause.model:
            steps.append(f"Inspect the model and its upstream columns: `adp inspect {cause.model} {dirs}`.")
        if cause.model:
            steps.append(_correct_data(dirs, cause))
        if cause.file:
            steps.append(f"If the test is wrong (the data is right), change it by hand in `{cause.file}`"
                         + (f" line {cause.line}" if cause.line else "") + " (adp never weakens a test).")
    for d in outcome.diagnoses:
        if d.get("category") == TEST_FAILURE:
            continue
        if d.get("node"):
            steps.append(f"Inspect `{d['node']}`: `adp inspect {d['node']} {dirs}`.")
        if d.get("file") and d.get("node") not in proposed:
            at = f"`{d['file']}`" + (f" line {d['line']}" if d.get("line") else "")
            select = f" --select {_short(d['node'])}+" if d.get("node") else ""
            steps.append(f"Fix {at} by hand, then check it: `dbt build {dirs}{select}`.")
    steps.append(f"Then run adp again: `adp run {dirs}`.")
    return steps


def _step(held: dict[str, Any]) -> str:
    """What a person can do with a proposal the run did not apply (its real id in the commands)."""
    pid = held["id"]
    if held["status"] == "pending":
        return f"Approve proposal `{pid}` with `adp fix apply {pid}`, or reject it with `adp fix reject {pid}` (`{held['path']}`)."
    if held["status"] == "rejected":
        return f"You rejected proposal `{pid}`; it is kept (`adp fix list --all`) and `adp fix apply {pid}` still applies it."
    return (f"Proposal `{pid}` was not applied ({held['reason']}): run `adp run --mode human-in-loop` to be asked "
            "about it, or make the change by hand.")

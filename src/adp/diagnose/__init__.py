"""Diagnosis: turn a failed dbt run into typed, located root causes (deterministic, no LLM).

`diagnose(result, project)` returns one Diagnosis per root failure: skipped nodes are not failures,
and failures that share a cause (a macro, an ephemeral model, a view's bad cast read by several
nodes) collapse into one diagnosis that lists every failed node in `details["failed_nodes"]`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from adp.artifacts import Manifest
from adp.diagnose.context import Context, Failure
from adp.diagnose.rules import RULES, recognise
from adp.models import PHASE_NODE, PHASE_OK, PHASE_PARSE, Diagnosis, RunResult
from adp.project import DbtProject
from adp.runlog import RunLog

__all__ = ["diagnose", "failures", "RULES"]


def failures(result: RunResult) -> list[Failure]:
    """What failed in a run: each errored/failed node, or the parse-phase error (one per run),
    plus each node dbt dropped with only a warning (phase ok: the build itself may have passed)."""
    if result.phase == PHASE_PARSE:
        text = result.error or "\n".join(result.log_lines)
        return [Failure(text, PHASE_PARSE)]
    found = [Failure(n.message or "", PHASE_NODE, n) for n in result.failed_nodes]
    if not found and result.exit_code != 0 and result.phase != PHASE_OK:
        found.append(Failure(result.error or "\n".join(result.log_lines), PHASE_NODE))
    return found + [Failure(text, PHASE_OK) for text in result.dropped]


def diagnose(
    result: RunResult,
    project: DbtProject,
    log: RunLog | None = None,
    manifest: Manifest | None = None,
    tracer: Callable[[str, Diagnosis], None] | None = None,
    columns: dict[str, list[str]] | None = None,
) -> list[Diagnosis]:
    """One Diagnosis per root failure of `result`, emitted to `log` as `event: diagnosis` when given.

    `manifest` lets a caller share one parse of target/manifest.json with its other steps; `tracer`
    receives the name of the rule that answered each failure and its diagnosis (before merging); `columns`
    are nodes' columns known better than the warehouse knows them (the pre-flight's bound, not yet built).
    """
    ctx = Context(result, project, manifest, log.log_dir if log is not None else None, columns)
    merged: dict[tuple, Diagnosis] = {}
    for failure in failures(result):
        name, diagnosis = recognise(ctx, failure)
        if tracer is not None:
            tracer(name, diagnosis)
        key = (diagnosis.category, diagnosis.file, diagnosis.identifier, diagnosis.root_cause_node)
        if diagnosis.category == "unknown" or diagnosis.file is None:
            key += (diagnosis.node,)
        if key in merged:
            first = merged[key]
            nodes = first.details.get("failed_nodes", [first.node])
            merged[key] = replace(first, details={**first.details, "failed_nodes": [*nodes, diagnosis.node]})
        else:
            merged[key] = diagnosis
    out = list(merged.values())
    if log is not None:
        for d in out:
            log.emit("diagnosis", **d.to_dict())
    return out

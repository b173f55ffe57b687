"""The per-node timeline of one dbt invocation (like dbt's run timing view): one bar per node, from its
compile start to its execute end, on a time axis with round ticks."""
from __future__ import annotations

from html import escape

from adp.artifacts import node_name
from adp.history_db import NodeSpan
from adp.models import FAILED_STATUSES

MAX_NODES = 200  # bars drawn: the longest nodes, in start order; the rest are counted
ROW, LABEL_W, WIDTH, AXIS_H = 16, 300, 960, 22
LABEL_CHARS = 44  # what fits in LABEL_W at the label font size
STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
_CLASS = {"success": "ok", "pass": "ok", "warn": "warn", "skipped": "skipped", **dict.fromkeys(FAILED_STATUSES, "error")}


def shown(spans: list[NodeSpan], limit: int = MAX_NODES) -> list[NodeSpan]:
    """The `limit` longest spans, in start order."""
    longest = sorted(spans, key=lambda s: -(s.completed_at - s.started_at).total_seconds())[:limit]
    return sorted(longest, key=lambda s: (s.started_at, s.unique_id))


def tick_step(total: float, most: int = 8) -> float:
    """The smallest round step that puts at most `most` ticks on an axis of `total` seconds.

    >>> tick_step(3.2), tick_step(95), tick_step(0)
    (0.5, 15, 0.01)
    """
    return next((s for s in STEPS if total / s <= most), STEPS[-1])


def tick_label(seconds: float, step: float) -> str:
    """`12 s`, `1.5 s`, `2m 30s`: precise enough for the step, short enough not to collide."""
    if seconds >= 60 and step >= 1:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m}m {s:02d}s" if s else f"{m}m"
    digits = 0 if step >= 1 else 1 if step >= 0.1 else 2
    return f"{seconds:.{digits}f} s"


def timeline_svg(spans: list[NodeSpan]) -> str:
    """The bars of `shown(spans)`; empty without spans."""
    bars = shown(spans)
    if not bars:
        return ""
    t0 = min(s.started_at for s in spans)
    total = max((s.completed_at - t0).total_seconds() for s in spans) or 0.001
    plot_w = WIDTH - LABEL_W - 70
    scale = plot_w / total
    step = tick_step(total)
    ticks = []
    i = 0
    while i * step <= total + 1e-9:
        x = LABEL_W + i * step * scale
        ticks.append(f'<line class="grid" x1="{x:.1f}" y1="{AXIS_H - 4}" x2="{x:.1f}" y2="{AXIS_H + len(bars) * ROW}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{AXIS_H - 8}" text-anchor="middle">{tick_label(i * step, step)}</text>')
        i += 1
    rows = []
    for n, s in enumerate(bars):
        y = AXIS_H + n * ROW
        start = (s.started_at - t0).total_seconds()
        took = (s.completed_at - s.started_at).total_seconds()
        name = node_name(s.unique_id)
        kind = s.unique_id.split(".")[0]
        label = f"{kind} {name}"
        label = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        rows.append(
            f'<g class="span st-{_CLASS.get(s.status, "none")}" data-id="{escape(s.unique_id)}" transform="translate(0,{y})">'
            f"<title>{escape(s.unique_id)}: {escape(s.status)}, {took:.2f} s, from +{start:.2f} s"
            f"{escape(' on ' + s.thread) if s.thread else ''}</title>"
            f'<text class="label" x="{LABEL_W - 8}" y="{ROW - 4}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_W + start * scale:.1f}" y="2" width="{max(took * scale, 1.5):.1f}" height="{ROW - 4}" rx="2"/>'
            f'<text class="tick" x="{LABEL_W + (start + took) * scale + 4:.1f}" y="{ROW - 4}">{took:.2f} s</text></g>'
        )
    height = AXIS_H + len(bars) * ROW + 4
    return (f'<svg class="chart timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
            f'aria-label="node timeline">{"".join(ticks)}{"".join(rows)}</svg>')

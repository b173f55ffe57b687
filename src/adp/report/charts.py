"""Inline SVG charts: run durations, rows over time per relation, the slowest nodes."""
from __future__ import annotations

from html import escape

from adp.artifacts import node_name
from adp.report.data import NodeTiming, RunView


def durations(runs: list[RunView], width: int = 960, height: int = 170) -> str:
    """One bar per run (height = duration, colour = status), oldest on the left."""
    if not runs:
        return ""
    pad_l, pad_b, pad_t = 44, 18, 8
    top = max((r.summary.duration or 0.0) for r in runs) or 1.0
    step = min((width - pad_l - 4) / len(runs), 28.0)
    plot_h = height - pad_b - pad_t
    bars = []
    for i, r in enumerate(runs):
        d = r.summary.duration or 0.0
        h = max(plot_h * d / top, 1.0)
        x = pad_l + i * step
        bars.append(
            f'<rect class="bar st-{escape(r.summary.status)}" x="{x:.1f}" y="{pad_t + plot_h - h:.1f}" '
            f'width="{max(step - 1, 0.6):.1f}" height="{h:.1f}"><title>{escape(r.run_id)}: {escape(r.summary.status)}, '
            f"{d:.1f} s</title></rect>"
        )
    first, last = _when(runs[0].summary.started), _when(runs[-1].summary.started)
    if first[:10] == last[:10]:  # one day: the day once, then the times
        first, last = first, last[11:]
    last_x = pad_l + len(runs) * step
    axis = (
        f'<line class="axis" x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width}" y2="{pad_t + plot_h}"/>'
        f'<text class="tick" x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end">{top:.0f} s</text>'
        f'<text class="tick" x="{pad_l - 4}" y="{pad_t + plot_h}" text-anchor="end">0</text>'
        f'<text class="tick" x="{pad_l}" y="{height - 2}">{escape(first)}</text>'
        + (f'<text class="tick" x="{min(last_x, width):.1f}" y="{height - 2}" text-anchor="end">{escape(last)}</text>'
           if len(runs) > 1 and last_x - pad_l > 6.5 * (len(first) + len(last)) + 12 else "")
    )
    return (f'<svg class="chart durations" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="run durations">{axis}{"".join(bars)}</svg>')


def _when(started: str) -> str:
    """`2024-01-02T03:04:05.000+00:00` -> `2024-01-02 03:04` (UTC, as the log writes it)."""
    return started[:16].replace("T", " ")


def sparkline(relation: str, points: list[tuple[str, int]], width: int = 300, height: int = 84) -> str:
    """Rows over the last good runs of one relation, with its first, last and extreme values."""
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1
    pad, top = 6, 26
    plot_h = height - top - pad
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    coords = [(pad + i * step, top + plot_h - plot_h * ((v - lo) / span if hi > lo else 0.5)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2"><title>{escape(run)}: {v:,} rows</title></circle>'
        for (x, y), (run, v) in zip(coords[-60:], points[-60:])
    )
    name = relation if len(relation) <= 40 else "…" + relation[-39:]
    return (
        f'<svg class="chart spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="rows of {escape(relation)}"><title>{escape(relation)}</title>'
        f'<text class="label" x="{pad}" y="12">{escape(name)}</text>'
        f'<text class="tick" x="{pad}" y="22">{values[-1]:,} rows (min {lo:,}, max {hi:,})</text>'
        f'<polyline points="{line}"/>{dots}</svg>'
    )


def slowest(timings: list[NodeTiming], width: int = 960) -> str:
    """Horizontal bars: each node's time in its latest run, with its mean over the log as a tick."""
    if not timings:
        return ""
    row, label_w = 22, 330
    chars = 48  # what fits in label_w at the label font size
    top = max(max(t.last, t.mean) for t in timings) or 1.0
    scale = (width - label_w - 90) / top
    parts = []
    for i, t in enumerate(timings):
        y = i * row
        name = f"{t.unique_id.split('.')[0]} {node_name(t.unique_id)}"
        name = name if len(name) <= chars else name[: chars - 1] + "…"
        parts.append(
            f'<g transform="translate(0,{y})"><title>{escape(t.unique_id)}: last {t.last:.2f} s, mean {t.mean:.2f} s '
            f"over {t.runs} runs</title>"
            f'<text class="label" x="{label_w - 6}" y="15" text-anchor="end">{escape(name)}</text>'
            f'<rect class="bar" x="{label_w}" y="4" width="{max(t.last * scale, 1):.1f}" height="14"/>'
            f'<line class="mean" x1="{label_w + t.mean * scale:.1f}" y1="2" x2="{label_w + t.mean * scale:.1f}" y2="20"/>'
            f'<text class="tick" x="{label_w + max(t.last, t.mean) * scale + 6:.1f}" y="15">{t.last:.2f} s</text></g>'
        )
    height = row * len(timings)
    return (f'<svg class="chart slowest" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="slowest nodes">{"".join(parts)}</svg>')

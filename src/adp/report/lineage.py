"""The lineage graph as inline SVG: one column per depth, nodes coloured by their last status."""
from __future__ import annotations

from collections import defaultdict, deque
from html import escape

from adp.history_db import LineageNode
from adp.models import FAILED_STATUSES

COL_GAP, NODE_H, ROW_H, PAD = 40, 22, 30, 16
MIN_NODE_W, MAX_NODE_W, CHAR_W = 150, 330, 6.6  # node width fits the longest name (11px font), within bounds
STATUS_CLASS = {"success": "ok", "pass": "ok", **dict.fromkeys(FAILED_STATUSES, "error"), "warn": "warn", "skipped": "skipped"}
RANK = {"ok": 0, "none": 0, "skipped": 1, "warn": 2, "error": 3}


def layers(nodes: list[LineageNode]) -> dict[str, int]:
    """Depth of each node: the longest path from a node without parents (Kahn's order, cycle-safe)."""
    ids = {n.unique_id for n in nodes}
    parents = {n.unique_id: [p for p in n.parents if p in ids] for n in nodes}
    children: dict[str, list[str]] = defaultdict(list)
    pending = {uid: len(ps) for uid, ps in parents.items()}
    for uid, ps in parents.items():
        for p in ps:
            children[p].append(uid)
    depth = {uid: 0 for uid in ids}
    queue = deque(uid for uid, n in pending.items() if n == 0)
    while queue:
        uid = queue.popleft()
        for child in children[uid]:
            depth[child] = max(depth[child], depth[uid] + 1)
            pending[child] -= 1
            if pending[child] == 0:
                queue.append(child)
    return depth


def lineage_svg(nodes: list[LineageNode], status: dict[str, str],
                tests: dict[str, tuple[str, list[str]]] | None = None) -> str:
    """Nodes placed by depth, ordered in each column by their parents' mean position to limit crossings.

    A node's colour is the worse of its own last status and its tests' (`tests`: unique_id -> (worst test
    status, names of the tests that did not pass)), so a model whose unique test failed is not green.
    """
    if not nodes:
        return ""
    tests = tests or {}
    longest = max(len(n.name) for n in nodes)
    node_w = int(min(max(longest * CHAR_W + 30, MIN_NODE_W), MAX_NODE_W))  # 30: padding and the test mark
    chars = int((node_w - 30) / CHAR_W)
    col_w = node_w + COL_GAP
    depth = layers(nodes)
    by_id = {n.unique_id: n for n in nodes}
    columns: dict[int, list[str]] = defaultdict(list)
    for uid, d in depth.items():
        columns[d].append(uid)
    row: dict[str, float] = {}
    for d in sorted(columns):
        def key(uid: str) -> tuple:
            ps = [row[p] for p in by_id[uid].parents if p in row]
            return (sum(ps) / len(ps) if ps else 0.0, by_id[uid].resource_type, by_id[uid].name)

        for i, uid in enumerate(sorted(columns[d], key=key)):
            row[uid] = i
    index = {uid: i for i, uid in enumerate(sorted(row, key=lambda u: (depth[u], row[u])))}
    pos = {uid: (PAD + depth[uid] * col_w, PAD + row[uid] * ROW_H) for uid in row}
    edges = []
    for uid, (x2, y2) in pos.items():
        for p in by_id[uid].parents:
            if p in pos:
                x1, y1 = pos[p][0] + node_w, pos[p][1] + NODE_H / 2
                mid = (x1 + x2) / 2
                edges.append(f'<path class="edge" data-s="{index[p]}" data-t="{index[uid]}" '
                             f'd="M{x1:.0f} {y1:.0f}C{mid:.0f} {y1:.0f} {mid:.0f} {y2 + NODE_H / 2:.0f} {x2:.0f} {y2 + NODE_H / 2:.0f}"/>')
    boxes = []
    for uid in sorted(index, key=index.get):
        n, (x, y) = by_id[uid], pos[uid]
        st = status.get(uid, "")
        own = STATUS_CLASS.get(st, "none")
        test_st, bad = tests.get(uid, ("", []))
        by_tests = STATUS_CLASS.get(test_st, "none")
        cls = by_tests if RANK[by_tests] > RANK[own] else own
        label = n.name if len(n.name) <= chars else n.name[: chars - 1] + "…"
        note = ""
        attrs = ""
        if test_st:
            cls += f" tests-{by_tests}"
            attrs = f'data-tests="{escape(test_st)}" '
            note = f"\ntests: {test_st}" + (f" ({', '.join(bad[:5])}{' …' if len(bad) > 5 else ''})" if bad else "")
        boxes.append(
            f'<g class="node kind-{escape(n.resource_type)} st-{cls}" data-i="{index[uid]}" data-id="{escape(uid)}" '
            f'data-kind="{escape(n.resource_type)}" {attrs}transform="translate({x},{y})">'
            f'<title>{escape(uid)}\n{escape(n.resource_type)} · {escape(st or "not run")}{escape(note)}'
            f'{escape(chr(10) + n.file) if n.file else ""}</title>'
            f'<rect width="{node_w}" height="{NODE_H}" rx="4"/><text x="8" y="15">{escape(label)}</text>'
            f'{_mark(node_w) if RANK[by_tests] >= 2 else ""}</g>'
        )
    width = PAD * 2 + (max(depth.values()) * col_w) + node_w
    height = PAD * 2 + max(len(c) for c in columns.values()) * ROW_H
    return (f'<svg class="lineage" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="model lineage">{"".join(edges)}{"".join(boxes)}</svg>')


def _mark(node_w: int) -> str:
    """A small badge at the node's right end: a test of it did not pass."""
    return f'<circle class="tmark" cx="{node_w - 9}" cy="{NODE_H / 2}" r="4"><title>a test did not pass</title></circle>'

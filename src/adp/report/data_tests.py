"""The tests table: every test of the latest run that ran tests, with its history over runs and, for a
failure, the failed-row sample the run logged (`failed_rows_sampled`: node, query, columns, rows)."""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from html import escape
from typing import Any

from adp.artifacts import node_name
from adp.history_db import DataTestMeta
from adp.models import FAILED_STATUSES

HISTORY_RUNS = 20  # runs of history in a test's sparkline
MAX_TESTS = 500  # rows of the tests table (failures first); the rest are counted
SAMPLE_ROWS, SAMPLE_COLUMNS, SAMPLE_CELL = 10, 20, 200
STATUS_RANK = {"pass": 0, "success": 0, "skipped": 1, "warn": 2, **dict.fromkeys(FAILED_STATUSES, 3)}
TEST_PREFIXES = ("test.", "unit_test.")


def names_a_test(unique_id: str) -> bool:
    return unique_id.startswith(TEST_PREFIXES)


@dataclass
class FailedRows:
    """A failed-row sample, clipped to SAMPLE_ROWS rows of SAMPLE_COLUMNS columns."""

    query: str
    columns: list[str]
    rows: list[list[Any]]
    more_rows: int = 0


@dataclass
class DataTestRow:
    unique_id: str
    name: str
    status: str
    failures: int | None
    message: str | None
    model: str | None = None
    column: str | None = None
    test_type: str | None = None
    history: list[tuple[str, str]] = field(default_factory=list)  # (run_id, status), oldest first
    sample: FailedRows | None = None


class DataTestTracker:
    """Fed every test `node_finished` and `failed_rows_sampled` event in log order."""

    def __init__(self) -> None:
        self.run_id: str | None = None  # the latest run that ran a test
        self.latest: dict[str, dict[str, Any]] = {}  # that run's last event per test
        self.history: dict[str, deque] = {}
        self.samples: dict[str, dict[str, FailedRows]] = {}  # run_id -> test -> sample

    def finished(self, ev: dict[str, Any]) -> None:
        run, node, status = ev.get("run_id"), ev["node"], str(ev.get("status", ""))
        if run != self.run_id:
            self.run_id, self.latest = run, {}
        self.latest[node] = ev
        h = self.history.setdefault(node, deque(maxlen=HISTORY_RUNS))
        if h and h[-1][0] == run:
            h[-1] = (run, status)
        else:
            h.append((run, status))

    def sampled(self, ev: dict[str, Any]) -> None:
        node, rows, columns = ev.get("node"), ev.get("rows"), ev.get("columns")
        if not isinstance(node, str) or not isinstance(rows, list) or not isinstance(columns, list):
            return
        clipped = [[_cell(v) for v in r[:SAMPLE_COLUMNS]] for r in rows[:SAMPLE_ROWS] if isinstance(r, list)]
        self.samples.setdefault(str(ev.get("run_id")), {})[node] = FailedRows(
            str(ev.get("query") or "")[:4000], [str(c) for c in columns[:SAMPLE_COLUMNS]], clipped,
            max(len(rows) - SAMPLE_ROWS, 0))

    def rows(self, meta: dict[str, DataTestMeta]) -> list[DataTestRow]:
        """The latest run's tests, failures first, then by name."""
        samples = self.samples.get(str(self.run_id), {})
        out = []
        for uid, ev in self.latest.items():
            m = meta.get(uid)
            failures = ev.get("failures")
            out.append(DataTestRow(
                uid, m.name if m else node_name(uid), str(ev.get("status", "")),
                failures if isinstance(failures, int) else None, ev.get("message") if isinstance(ev.get("message"), str) else None,
                m.model if m else None, m.column_name if m else None, m.test_type if m else None,
                list(self.history.get(uid, [])), samples.get(uid)))
        return sorted(out, key=lambda r: (-STATUS_RANK.get(r.status, 1), r.name, r.unique_id))


def worst_by_model(rows: list[DataTestRow]) -> dict[str, tuple[str, list[str]]]:
    """model unique_id -> (worst test status, names of its tests that did not pass)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for r in rows:
        if not r.model:
            continue
        worst, bad = out.get(r.model, ("pass", []))
        if STATUS_RANK.get(r.status, 1) > STATUS_RANK.get(worst, 1):
            worst = r.status
        if STATUS_RANK.get(r.status, 1) >= 2:
            bad = [*bad, r.name]
        out[r.model] = (worst, bad)
    return out


def sparkline(history: list[tuple[str, str]], cell: int = 7, height: int = 14) -> str:
    """One square per run (oldest left), one path per status colour, so a row costs a few hundred bytes."""
    paths: dict[str, list[str]] = {}
    for i, (_, status) in enumerate(history):
        cls = "ok" if STATUS_RANK.get(status) == 0 else "fail" if STATUS_RANK.get(status) == 3 else (
            "warn" if status == "warn" else "skip")
        paths.setdefault(cls, []).append(f"M{i * (cell + 1)} 2h{cell}v{height - 4}h-{cell}z")
    counts = Counter(status for _, status in history)
    title = f"last {len(history)} runs: " + ", ".join(f"{n} {st}" for st, n in counts.most_common())
    if history:
        title += f"; newest {history[-1][0]}: {history[-1][1]}"
    width = max(len(history) * (cell + 1), 1)
    body = "".join(f'<path class="h-{cls}" d="{"".join(d)}"/>' for cls, d in sorted(paths.items()))
    return (f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="status over the last {len(history)} runs"><title>{escape(title)}</title>{body}</svg>')


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return text if len(text) <= SAMPLE_CELL else text[:SAMPLE_CELL] + "…"

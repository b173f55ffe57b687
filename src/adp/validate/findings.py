"""Findings and the checks that produce them: a tuple of small functions comparing two snapshots."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from adp.config import Validate
from adp.history_db import RelationProfile
from adp.models import FAILED_STATUSES

SEVERITIES = ("error", "warn", "info")  # most severe first


@dataclass(frozen=True)
class Finding:
    """One thing that changed between the last good run and now."""

    severity: str  # "error" | "warn" | "info"
    relation: str | None  # database.schema.identifier (or a test's unique_id)
    column: str | None
    before: Any
    after: Any
    message: str  # one sentence for a person
    check: str = ""  # the check that produced it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Pair:
    """One relation in the baseline snapshot and/or now."""

    unique_id: str
    before: RelationProfile | None
    after: RelationProfile | None
    in_project: bool  # still in the manifest
    loaded_at_field: str | None = None  # sources: the column that says when a row was loaded

    @property
    def relation(self) -> str:
        return (self.after or self.before).relation  # type: ignore[union-attr]


@dataclass(frozen=True)
class Context:
    config: Validate
    now: datetime


Check = Callable[[Pair, Context], Iterable[Finding]]


def relation_presence(pair: Pair, ctx: Context) -> Iterable[Finding]:
    if pair.before and not pair.after:
        if pair.in_project:
            yield Finding("error", pair.relation, None, pair.before.kind, None,
                          f"`{pair.relation}` existed in the last good run and is missing from the warehouse now.",
                          "relation_presence")
        else:
            yield Finding("warn", pair.relation, None, pair.before.kind, None,
                          f"`{pair.relation}` was removed from the project since the last good run.", "relation_presence")
    elif pair.after and not pair.before:
        yield Finding("info", pair.relation, None, None, pair.after.kind,
                      f"`{pair.relation}` is new since the last good run.", "relation_presence")


def row_volume(pair: Pair, ctx: Context) -> Iterable[Finding]:
    b = pair.before.row_count if pair.before else None
    a = pair.after.row_count if pair.after else None
    if b is None or a is None or a == b:
        return
    change = abs(a - b) / b if b else float("inf")
    cfg = ctx.config
    severity = "error" if change >= cfg.row_count_change else "warn" if change >= cfg.row_count_warn else None
    if severity:
        pct = f"{(a - b) / b:+.1%}" if b else "was empty"
        yield Finding(severity, pair.relation, None, b, a, f"`{pair.relation}` went from {b:,} to {a:,} rows ({pct}).",
                      "row_volume")


def column_schema(pair: Pair, ctx: Context) -> Iterable[Finding]:
    if not (pair.before and pair.after):
        return
    before = {c.name.lower(): c for c in pair.before.columns}
    after = {c.name.lower(): c for c in pair.after.columns}
    for key, col in before.items():
        if key not in after:
            yield Finding("error", pair.relation, col.name, col.data_type, None,
                          f"column `{col.name}` of `{pair.relation}` was removed.", "column_schema")
        elif after[key].data_type != col.data_type:
            yield Finding("warn", pair.relation, col.name, col.data_type, after[key].data_type,
                          f"column `{col.name}` of `{pair.relation}` changed type from {col.data_type} to "
                          f"{after[key].data_type}.", "column_schema")
    for key, col in after.items():
        if key not in before:
            yield Finding("info", pair.relation, col.name, None, col.data_type,
                          f"column `{col.name}` ({col.data_type}) was added to `{pair.relation}`.", "column_schema")


def null_rate(pair: Pair, ctx: Context) -> Iterable[Finding]:
    if not (pair.before and pair.after) or not pair.before.row_count or not pair.after.row_count:
        return
    for col in pair.after.columns:
        old = pair.before.column(col.name)
        if old is None or old.null_count is None or col.null_count is None:
            continue
        rb, ra = old.null_count / pair.before.row_count, col.null_count / pair.after.row_count
        rise = ra - rb
        if ra == 1.0 and rb < 1.0:
            severity, what = "error", "became all NULL"
        elif rise >= ctx.config.null_rate_increase:
            severity, what = "error", "has many more NULLs"
        elif rise >= ctx.config.null_rate_warn:
            severity, what = "warn", "has more NULLs"
        else:
            continue
        yield Finding(severity, pair.relation, col.name, round(rb, 4), round(ra, 4),
                      f"column `{col.name}` of `{pair.relation}` {what}: {rb:.1%} → {ra:.1%} of rows.", "null_rate")


def source_freshness(pair: Pair, ctx: Context) -> Iterable[Finding]:
    if not pair.after or pair.after.resource_type != "source":
        return
    col = pair.after.column(pair.loaded_at_field or "_loaded_at")
    if col is None or not col.max_value:
        return
    loaded = _parse_ts(col.max_value)
    if loaded is None:
        return
    age_h = (ctx.now - loaded).total_seconds() / 3600
    if age_h > ctx.config.freshness_hours:
        yield Finding("warn", pair.relation, col.name, None, col.max_value,
                      f"source `{pair.relation}` was last loaded {age_h:.1f} h ago (limit {ctx.config.freshness_hours:g} h).",
                      "source_freshness")


CHECKS: tuple[Check, ...] = (relation_presence, row_volume, column_schema, null_rate, source_freshness)


def changed_tests(before: dict[str, tuple[str, int | None]], after: dict[str, tuple[str, int | None]]) -> list[Finding]:
    """dbt tests that now warn or fail where the last good run had them passing (or had none)."""
    out = []
    for uid, (status, failures) in sorted(after.items()):
        old = before.get(uid, (None, None))[0]
        if status == "warn" and old != "warn":
            severity = "warn"
        elif status in FAILED_STATUSES and old not in FAILED_STATUSES:
            severity = "error"
        else:
            continue
        rows = f" ({failures} failing rows)" if failures else ""
        out.append(Finding(severity, uid, None, old, status,
                           f"test `{uid.split('.')[-1]}` changed from {old or 'not run'} to {status}{rows}.", "tests"))
    return out


def _parse_ts(text: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)

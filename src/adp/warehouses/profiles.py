"""A relation's profile as every engine computes it: one select of `count(*)` and per column count, min, max.

An engine supplies its quoting, which types keep a min/max, and its cast to text; these helpers build
the select list and read its one row into the `RelationProfile` that validation compares.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from adp.history_db import RelationProfile, RelationRef

Columns = list[tuple[str, str]]  # [(column, type)] in the relation's order


def select_list(columns: Columns, quote: Callable[[str], str], ranged: Callable[[str], bool],
                as_text: Callable[[str], str]) -> str:
    """`count(*), count(c), min(c), max(c), ...`; min/max are `null` for a type that is not `ranged`."""
    exprs = ["count(*)"]
    for name, dtype in columns:
        col = quote(name)
        keep = ranged(dtype)
        exprs += [f"count({col})", as_text(f"min({col})") if keep else "null", as_text(f"max({col})") if keep else "null"]
    return ", ".join(exprs)


def from_row(ref: RelationRef, kind: str, columns: Columns, row: tuple | None) -> RelationProfile:
    """The profile of `ref`: rows and per column nulls and min/max from `row`; None for a view (columns only)."""
    from adp.history_db import ColumnProfile, RelationProfile  # adp.history_db imports duckdb

    if row is None:
        return RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, None,
                               [ColumnProfile(name, dtype) for name, dtype in columns])
    rows = int(row[0])
    cols = [ColumnProfile(name, dtype, rows - int(row[1 + 3 * i]), row[2 + 3 * i], row[3 + 3 * i])
            for i, (name, dtype) in enumerate(columns)]
    return RelationProfile(ref.unique_id, ref.resource_type, ref.name, kind, rows, cols)

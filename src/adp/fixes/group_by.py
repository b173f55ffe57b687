"""GROUP BY repairs on compiled SQL, read through the one SQL reader: what a GROUP BY must add to cover
every select item, and the edit that adds it in the statement's own style (positions, names as written,
a new clause where the statement's layout puts one)."""
from __future__ import annotations

from adp.diagnose.sql_columns import Select


def missing(s: Select, sql: str, style: str) -> list[str]:
    """What GROUP BY must add to cover every item, in `style`: `all`, positions of plain items, or as written in `sql`."""
    if style == "all":
        return ["all"]
    out = []
    for k, item, refs in s.ungrouped():
        if item.aggregated:
            out += [sql[r.start:r.end] for r in refs]
        else:
            out.append(str(k) if style == "positions" or not item.span else sql[item.span[0]:item.span[1]])
    return list(dict.fromkeys(out))


def edit(s: Select, sql: str, items: list[str]) -> tuple[int, int, str]:
    """The edit of `sql` that groups by `items` too: into a sorted positional GROUP BY, after its last item,
    or as a new clause before the clause that follows (its own line when that clause has one) or at the end."""
    g = s.group
    if g is not None and g.style == "positions" and list(g.positions) == sorted(g.positions) and all(i.isdigit() for i in items):
        return (g.start, g.end, ", ".join(map(str, sorted({*g.positions, *map(int, items)}))))  # `1, 3` -> `1, 2, 3`
    if g is not None and g.spans:
        return (g.start, g.end, _merged(s, sql, items))
    if g is not None:
        return (g.end, g.end, ", " + ", ".join(items))
    clause, at = f"{'GROUP BY' if s.upper else 'group by'} {', '.join(items)}", s.clause_at
    before = sql[sql.rfind("\n", 0, at) + 1:at]
    if s.clause_before:
        return (at, at, f"{clause}\n{before}" if not before.strip() else clause + " ")
    select_line = sql[sql.rfind("\n", 0, s.start) + 1:s.start]
    return (at, at, f"\n{'' if select_line.strip() else select_line}{clause}")


def _merged(s: Select, sql: str, items: list[str]) -> str:
    """The GROUP BY text with each of `items` put where the select list has it: after the grouped item that
    precedes it there (before the first one when none does), the text between items kept as written."""
    g = s.group
    assert g is not None

    def position(text: str) -> int | None:
        key = text.replace('"', "").lower()
        return next((k for k, i in enumerate(s.items, 1)
                     if key in {(sql[i.span[0]:i.span[1]] if i.span else i.expr).replace('"', "").lower(),
                                (i.name or "").lower()} | {sql[r.start:r.end].replace('"', "").lower() for r in i.columns}), None)
    grouped = [position(sql[a:b]) for a, b in g.spans]
    after: dict[int, list[str]] = {}  # index into g.spans -> items after it (-1: before the first)
    for text in items:
        k = position(text)
        known = [(pos, j) for j, pos in enumerate(grouped) if pos is not None]
        if k is None or not known:
            j = len(g.spans) - 1
        else:
            j = max(((pos, j) for pos, j in known if pos < k), default=(0, -1))[1]
        after.setdefault(j, []).append(text)
    out = "".join(t + ", " for t in after.get(-1, []))
    for j, (a, b) in enumerate(g.spans):
        out += sql[a:b] + "".join(", " + t for t in after.get(j, []))
        out += sql[b:g.spans[j + 1][0]] if j + 1 < len(g.spans) else ""
    return out

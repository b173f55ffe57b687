"""Reading column names and relation aliases out of compiled SQL (fallback when the warehouse is unreadable)."""
from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_][\w$]*")
KEYWORDS = frozenset(
    "select from where group order by having limit join left right inner outer full cross on as and or not "
    "union all distinct with case when then else end is null in qualify window over partition using "
    "between like except intersect exists".split()
)


def paren_depths(sql: str) -> list[int]:
    """Parenthesis depth of each character, ignoring quoted text."""
    depth, out, quote = 0, [], None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        out.append(depth)
    return out


def _keywords_at_depth(sql: str, word: str, depth: int = 0) -> list[int]:
    depths = paren_depths(sql)
    return [m.start() for m in re.finditer(rf"\b{word}\b", sql, re.I) if depths[m.start()] == depth]


def ctes(sql: str) -> dict[str, str]:
    """name -> body of each top-level CTE (`name as ( ... )`)."""
    out: dict[str, str] = {}
    depths = paren_depths(sql)
    for m in re.finditer(r"(?:\bwith\b|,)\s*\"?([A-Za-z_]\w*)\"?\s+as\s*\(", sql, re.I):
        if depths[m.start()] != 0:
            continue
        start = m.end()
        end = start
        while end < len(sql) and depths[end] > 0:
            end += 1
        out[m.group(1).lower()] = sql[start:end]
    return out


def final_select(sql: str) -> str:
    """The outermost SELECT statement (after any CTEs)."""
    starts = _keywords_at_depth(sql, "select")
    return sql[starts[-1]:] if starts else sql


def select_items(sql: str) -> list[str]:
    """The select-list expressions of the outermost SELECT, split on top-level commas."""
    stmt = final_select(sql)
    froms = _keywords_at_depth(stmt, "from")
    body = stmt[len("select"): froms[0] if froms else len(stmt)]
    body = re.sub(r"^\s*distinct\b", "", body, flags=re.I)
    depths = paren_depths(body)
    items, last = [], 0
    for i, ch in enumerate(body):
        if ch == "," and depths[i] == 0:
            items.append(body[last:i])
            last = i + 1
    items.append(body[last:])
    return [" ".join(i.split()) for i in items if i.strip()]


def output_name(item: str) -> str | None:
    """The column name a select item produces (`*` for a star), None when it cannot be told."""
    m = re.search(r"\bas\s+\"?([A-Za-z_][\w$]*)\"?\s*$", item, re.I)
    if m:
        return m.group(1)
    m = re.fullmatch(r"(?:\"?\w+\"?\.)*\"?([A-Za-z_][\w$]*|\*)\"?", item.strip())
    return m.group(1) if m else None


def from_relations(sql: str) -> dict[str, str]:
    """alias (or bare name) -> relation text for FROM/JOIN items of the outermost SELECT."""
    stmt = final_select(sql)
    out: dict[str, str] = {}
    rel = r"((?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))*)"
    for m in re.finditer(rf"\b(?:from|join)\s+{rel}(?:\s+(?:as\s+)?([A-Za-z_]\w*))?", stmt, re.I):
        relation, alias = m.group(1), m.group(2)
        if alias and alias.lower() in KEYWORDS:
            alias = None
        name = relation.split(".")[-1].strip('"')
        out[(alias or name).lower()] = relation
        out.setdefault(name.lower(), relation)
    return out


def identifiers(sql: str) -> set[str]:
    """Every bare word of `sql` that is not a keyword (a crude pool of names for ranking)."""
    text = re.sub(r"'[^']*'", " ", sql)
    return {w for w in _WORD.findall(text) if w.lower() not in KEYWORDS}

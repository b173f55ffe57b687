"""The one reader of compiled SQL, on sqlglot's parser (dialects `duckdb` and `spark`).

`selects(sql)` gives every SELECT of a statement (CTEs and subqueries first, the final one last): its
items with their output names and whether they aggregate, its FROM/JOIN relations with aliases and join
kinds, its GROUP BY (positions, `all`, names) and its column references with their positions. SQL that
does not parse reads as nothing (no SELECTs, no CTEs, no relations): the caller falls back to the
message. Positions are offsets into the text given; an end is exclusive.

>>> [(i.name, i.aggregated) for i in selects("select c.id, count(*) as n from c group by 1")[0].items]
[('id', False), ('n', True)]
"""
from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokens import Token, TokenType

# Date parts a date function takes as its first argument (quoted in DuckDB: `date_diff('day', a, b)`).
DATE_PARTS = frozenset(
    "year quarter month week day dayofweek dayofyear dow doy isodow hour minute second millisecond "
    "microsecond epoch decade century".split()
)
DATE_FUNCTIONS = ("date_diff", "datediff", "date_part", "datepart", "date_trunc", "datetrunc", "date_sub", "date_add")
# The clause keywords (a misspelling of one is a keyword typo).
KEYWORDS = frozenset(
    "select from where group order by having limit join left right inner outer full cross on as and or not "
    "union all distinct with case when then else end is null in qualify window over partition using "
    "between like except intersect exists".split()
)
_AFTER_GROUP = frozenset({TokenType.HAVING, TokenType.QUALIFY, TokenType.WINDOW, TokenType.ORDER_BY, TokenType.LIMIT})
_SCOPE_END = frozenset({TokenType.UNION, TokenType.EXCEPT, TokenType.INTERSECT, TokenType.SEMICOLON})
_NESTED = (exp.Select, exp.Subquery, exp.With, exp.SetOperation)


@dataclass(frozen=True)
class Ref:
    """A column reference: `qualifier.name` or a bare `name`, at [start, end) (the qualifier included)."""

    qualifier: str | None
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Item:
    """One select-list item."""

    expr: str  # the expression without its alias, as sqlglot writes it back (lowercased names compare)
    name: str | None  # the output column name (`*` for a star), None when the engine makes one up
    aggregated: bool  # has an aggregate function (not a window) in it
    columns: tuple[Ref, ...]  # its column references outside any aggregate (what GROUP BY must cover)
    span: tuple[int, int] | None  # [start, end) of the expression as written, its alias left out


@dataclass(frozen=True)
class Relation:
    """One FROM or JOIN item."""

    alias: str  # the name it goes by in the SELECT
    relation: str | None  # the table as written (`"db"."main"."t"`), None for a subquery or function
    join: str  # "from", "inner", "left", "right", "full", "cross" or "natural"
    equated: frozenset[str]  # `other_alias.column` (lowercased) its ON sets equal to its own same-named column


@dataclass(frozen=True)
class GroupBy:
    """The GROUP BY of a SELECT."""

    all: bool  # `group by all`
    positions: tuple[int, ...]  # 1-based select-list positions
    names: tuple[str, ...]  # the other items, as sqlglot writes them back
    start: int  # offset of the first item (-1: not found)
    end: int  # offset just after the last item, where more items are appended (-1: not found)
    spans: tuple[tuple[int, int], ...] = ()  # [start, end) of each item as written, in order

    @property
    def style(self) -> str:
        """`all`, `positions` (numbers only) or `names`."""
        return "all" if self.all else "positions" if self.positions and not self.names else "names"


@dataclass(frozen=True)
class Select:
    """One SELECT (a CTE body, a subquery, a branch of a UNION or the final query)."""

    start: int  # offset of its SELECT keyword
    items: tuple[Item, ...]
    relations: tuple[Relation, ...]
    group: GroupBy | None
    refs: tuple[Ref, ...]  # every column reference of this SELECT, not of its subqueries
    clause_at: int  # where a GROUP BY clause goes: before HAVING/QUALIFY/WINDOW/ORDER BY/LIMIT, else at its end
    clause_before: bool  # clause_at is the start of one of those clauses (not the end of the SELECT)
    upper: bool  # its SELECT keyword is written in capitals

    @property
    def aggregates(self) -> bool:
        return self.group is not None or any(i.aggregated for i in self.items)

    def unqualified(self, name: str) -> list[Ref]:
        """The references to column `name` (any case) without a qualifier."""
        return [r for r in self.refs if r.qualifier is None and r.name.lower() == name.lower()]

    def ungrouped(self) -> list[tuple[int, Item, list[Ref]]]:
        """(1-based position, item, its columns) for each item whose columns GROUP BY does not cover."""
        g = self.group
        covered = {n.replace('"', "").replace("`", "").lower() for n in (g.names if g else ())}
        out = []
        for k, item in enumerate(self.items, 1):
            if (g and k in g.positions) or {item.expr.replace('"', "").lower(), (item.name or "").lower()} & covered:
                continue
            refs = [r for r in item.columns if not {r.name.lower(), f"{r.qualifier}.{r.name}".lower()} & covered]
            if refs:
                out.append((k, item, refs))
        return out


@functools.lru_cache(maxsize=128)
def _parse(sql: str, dialect: str) -> tuple[exp.Expression, list[Token]] | None:
    engine = Dialect.get_or_raise(dialect)
    try:
        tokens = engine.tokenize(sql)
        tree = next((t for t in engine.parser().parse(tokens, sql) if t is not None), None)
    except SqlglotError:
        return None
    return (tree, tokens) if tree is not None else None


@functools.lru_cache(maxsize=128)
def selects(sql: str, dialect: str = "duckdb") -> tuple[Select, ...]:
    """Every SELECT of `sql`, CTEs and subqueries before the query that uses them; () when it does not parse."""
    parsed = _parse(sql, dialect)
    if parsed is None:
        return ()
    tree, tokens = parsed
    out = []
    for scope in traverse_scope(tree):
        node = scope.expression
        start = _select_token(node, tokens) if isinstance(node, exp.Select) else None
        if start is not None:
            out.append(_select(node, scope.columns, tokens, start, dialect))
    return tuple(out)


def _select(node: exp.Select, columns: list[exp.Column], tokens: list[Token], i: int, dialect: str) -> Select:
    stop = _stop(tokens, i + 1, _AFTER_GROUP | _SCOPE_END)
    before = stop < len(tokens) and tokens[stop].token_type in _AFTER_GROUP
    return Select(
        start=tokens[i].start,
        items=_items(node, tokens, i, dialect),
        relations=_relations(node, dialect),
        group=_group(node, tokens, i, dialect),
        refs=tuple(_ref(c) for c in columns if isinstance(c.this, exp.Identifier) and c.this.meta
                   and c.find_ancestor(exp.Select) is node),
        clause_at=tokens[stop].start if before else tokens[stop - 1].end + 1,
        clause_before=before,
        upper=tokens[i].text.isupper(),
    )


def _items(node: exp.Select, tokens: list[Token], i: int, dialect: str) -> tuple[Item, ...]:
    first = i + 1 + (i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.DISTINCT)
    stop = _stop(tokens, first, {TokenType.FROM, TokenType.WHERE} | _AFTER_GROUP | _SCOPE_END)
    bounds: list = []
    while first <= stop:
        comma = min(_stop(tokens, first, {TokenType.COMMA}), stop)
        bounds.append((first, comma))
        first = comma + 1
    if len(bounds) != len(node.expressions):
        bounds = [None] * len(node.expressions)
    return tuple(_item(e, tokens, b, dialect) for e, b in zip(node.expressions, bounds))


def _item(e: exp.Expression, tokens: list[Token], bounds: tuple[int, int] | None, dialect: str) -> Item:
    bare = [c for c in e.find_all(exp.Column) if isinstance(c.this, exp.Identifier) and c.this.meta and not _aggregated(c, e)]
    aggregated = any(not isinstance(a.parent, exp.Window) for a in e.find_all(exp.AggFunc))
    span = None
    if bounds:
        a, b = bounds
        if isinstance(e, exp.Alias) and "start" in e.args["alias"].meta:
            b = next(k for k in range(a, b + 1) if k == b or tokens[k].start >= e.args["alias"].meta["start"])
            b -= b > a and tokens[b - 1].token_type == TokenType.ALIAS
        span = (tokens[a].start, tokens[b - 1].end + 1) if b > a else None
    return Item(_text(e.unalias(), dialect), _output_name(e), aggregated, tuple(_ref(c) for c in bare), span)


def _text(e: exp.Expression, dialect: str) -> str:
    return e.sql(dialect, comments=False, unsupported_level=ErrorLevel.IGNORE)


def _aggregated(node: exp.Expression, root: exp.Expression) -> bool:
    while node is not root and node.parent is not None:
        node = node.parent
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window):
            return True
    return False


def _output_name(e: exp.Expression) -> str | None:
    if isinstance(e, exp.Alias):
        return e.alias
    if isinstance(e, (exp.Column, exp.Star)):
        return e.output_name
    return None


def _ref(c: exp.Column) -> Ref:
    first = c.args.get("table") if isinstance(c.args.get("table"), exp.Identifier) and c.args["table"].meta else c.this
    return Ref(c.table or None, c.name, first.meta["start"], c.this.meta["end"] + 1)


def _relations(node: exp.Select, dialect: str) -> tuple[Relation, ...]:
    source = node.args.get("from_")
    out = [_relation(source.this, "from", frozenset(), dialect)] if source else []
    for j in node.args.get("joins") or []:
        kind = (j.side or j.kind or j.args.get("method") or "inner").lower()
        out.append(_relation(j.this, "inner" if kind == "outer" else kind, _equated(j), dialect))
    return tuple(out)


def _relation(e: exp.Expression, join: str, equated: frozenset[str], dialect: str) -> Relation:
    table = ".".join(_text(p, dialect) for p in e.parts) if isinstance(e, exp.Table) and e.name else None
    return Relation(e.alias_or_name, table, join, equated)


def _equated(j: exp.Join) -> frozenset[str]:
    own = j.this.alias_or_name.lower()
    out = set()
    for eq in j.args["on"].find_all(exp.EQ) if j.args.get("on") else ():
        a, b = eq.this, eq.expression
        if isinstance(a, exp.Column) and isinstance(b, exp.Column) and a.name.lower() == b.name.lower():
            out |= {f"{x.table.lower()}.{x.name.lower()}" for x, y in ((a, b), (b, a)) if y.table.lower() == own != x.table.lower()}
    return frozenset(out)


def _group(node: exp.Select, tokens: list[Token], i: int, dialect: str) -> GroupBy | None:
    group = node.args.get("group")
    if group is None:
        return None
    at = _stop(tokens, i + 1, {TokenType.GROUP_BY} | _AFTER_GROUP | _SCOPE_END)
    found = at + 1 < len(tokens) and tokens[at].token_type == TokenType.GROUP_BY
    start, end = (tokens[at + 1].start, tokens[_stop(tokens, at + 1, _AFTER_GROUP | _SCOPE_END) - 1].end + 1) if found else (-1, -1)
    items = group.expressions
    positions = tuple(int(e.this) for e in items if isinstance(e, exp.Literal) and e.is_int)
    names = tuple(_text(e, dialect) for e in items if not (isinstance(e, exp.Literal) and e.is_int))
    return GroupBy(bool(group.args.get("all")), positions, names, start, end, _item_spans(tokens, at + 1) if found else ())


def _item_spans(tokens: list[Token], i: int) -> tuple[tuple[int, int], ...]:
    """[start, end) of each comma-separated item of the list that starts at token `i`."""
    stop, spans, first, depth = _stop(tokens, i, _AFTER_GROUP | _SCOPE_END), [], i, 0
    for k in range(i, stop + 1):
        kind = tokens[k].token_type if k < stop else TokenType.COMMA
        if depth == 0 and kind == TokenType.COMMA and k > first:
            spans.append((tokens[first].start, tokens[k - 1].end + 1))
            first = k + 1
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
    return tuple(spans)


def _select_token(node: exp.Expression, tokens: list[Token]) -> int | None:
    """Index of the SELECT keyword of `node`: the nearest one before its first own position, not in a nested group."""
    own = [n.meta["start"] for n in node.walk(prune=lambda n: n is not node and isinstance(n, _NESTED))
           if n is not node and "start" in n.meta and not isinstance(n, _NESTED)]
    depth = 0  # parentheses closed minus opened, walking back from the first own position
    for k in range(bisect.bisect_left([t.start for t in tokens], min(own)) - 1, -1, -1) if own else ():
        depth += (tokens[k].token_type == TokenType.R_PAREN) - (tokens[k].token_type == TokenType.L_PAREN)
        if tokens[k].token_type == TokenType.SELECT and depth <= 0:
            return k
    return None


def _stop(tokens: list[Token], i: int, kinds: frozenset[TokenType] | set[TokenType]) -> int:
    """Index of the first token from `i`, at the depth of `i`, that is one of `kinds` or closes that depth."""
    depth = 0
    for k in range(i, len(tokens)):
        kind = tokens[k].token_type
        if depth == 0 and (kind in kinds or kind == TokenType.R_PAREN):
            return k
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
    return len(tokens)


def paren_balance(text: str, dialect: str = "duckdb") -> int | None:
    """Opened minus closed parentheses in `text` (strings and comments ignored); None when it cannot be tokenized."""
    try:
        tokens = sqlglot.tokenize(text, read=dialect)
    except SqlglotError:
        return None
    return sum((t.token_type == TokenType.L_PAREN) - (t.token_type == TokenType.R_PAREN) for t in tokens)


def operand_end(text: str, i: int, dialect: str = "duckdb") -> int | None:
    """End offset of the operand starting at `i` on its line: a parenthesised group, or a (qualified) name or call."""
    line_end = text.find("\n", i)
    try:
        tokens = sqlglot.tokenize(text[i:line_end if line_end >= 0 else len(text)], read=dialect)
    except SqlglotError:
        return None
    if not tokens:
        return None
    k = 0
    if tokens[0].token_type != TokenType.L_PAREN:
        while k + 2 < len(tokens) and tokens[k + 1].token_type == TokenType.DOT:
            k += 2
        if k + 1 == len(tokens) or tokens[k + 1].token_type != TokenType.L_PAREN:
            return i + tokens[k].end + 1
        k += 1
    close = _stop(tokens, k + 1, frozenset())
    return i + tokens[close].end + 1 if close < len(tokens) else None


def same_query(a: str, b: str, dialect: str = "duckdb") -> bool:
    """Whether two statements parse to the same tree (layout, keyword and unquoted-name case aside)."""
    pa, pb = _parse(a, dialect), _parse(b, dialect)
    if pa is None or pb is None:
        return a == b
    return normalize_identifiers(pa[0].copy(), dialect) == normalize_identifiers(pb[0].copy(), dialect)


# -- the diagnosis's questions: the final SELECT's columns and relations, the CTE bodies -------------

def _final(sql: str, dialect: str) -> exp.Select | None:
    parsed = _parse(sql, dialect)
    node = parsed[0] if parsed else None
    while isinstance(node, (exp.SetOperation, exp.Subquery)):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def ctes(sql: str, dialect: str = "duckdb") -> dict[str, str]:
    """name (lowercased) -> body of each top-level CTE."""
    parsed = _parse(sql, dialect)
    with_ = parsed[0].args.get("with_") if parsed else None
    return {c.alias.lower(): _text(c.this, dialect) for c in (with_.expressions if with_ else [])}


def select_items(sql: str, dialect: str = "duckdb") -> list[str]:
    """The select-list items of the final SELECT (the first branch of a UNION), as sqlglot writes them."""
    node = _final(sql, dialect)
    return [_text(e, dialect) for e in node.expressions] if node else []


def output_name(item: str, dialect: str = "duckdb") -> str | None:
    """The column name a select item produces (`*` for a star), None when it cannot be told."""
    node = _final(f"select {item}", dialect)
    return _output_name(node.expressions[0]) if node and len(node.expressions) == 1 else None


def from_relations(sql: str, dialect: str = "duckdb") -> dict[str, str]:
    """alias (and bare name) -> table as written, for the FROM/JOIN tables of the final SELECT, lowercased keys."""
    node = _final(sql, dialect)
    out: dict[str, str] = {}
    for r in _relations(node, dialect) if node else ():
        if r.relation:
            out[r.alias.lower()] = r.relation
            out.setdefault(r.relation.split(".")[-1].strip('"`').lower(), r.relation)
    return out


def without_jinja(text: str | None) -> str | None:
    """A model's SQL with `{{ … }}` as a placeholder name and `{# … #}` dropped; None with `{% if/for/macro %}`."""
    if not text or "{%" in text and re.search(r"\{%-?\s*(macro|if|for)\b", text):
        return None
    return re.sub(r"\{\{.*?\}\}", "__jinja__", re.sub(r"\{#.*?#\}", "", text, flags=re.S), flags=re.S)

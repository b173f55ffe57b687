"""Rules that repair SQL in a model or macro file: qualify, group, punctuate, quote, guard a divisor."""
from __future__ import annotations

import re

from adp.diagnose.sql_columns import KEYWORDS, paren_depths
from adp.fixes.confidence import MEANING_CHANGE_CAP, REVIEW_CAP, closeness, score
from adp.fixes.context import FixContext, edit_spans, line_span, rule, word_spans
from adp.models import Diagnosis, FixProposal

DATE_PARTS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond",
              "microsecond", "dayofweek", "dayofyear", "isodow", "epoch", "decade", "century")
DATE_FUNCTIONS = ("date_diff", "datediff", "date_part", "datepart", "date_trunc", "datetrunc", "date_sub", "date_add")
_CLAUSE = re.compile(r"^\s*(from|where|group\s+by|order\s+by|having|qualify|limit|window|union|except|intersect|select|with)\b", re.I)


def _final_select_start(text: str) -> int:
    depths = paren_depths(text)
    starts = [m.start() for m in re.finditer(r"\bselect\b", text, re.I) if depths[m.start()] == 0]
    return starts[-1] if starts else 0


def _locate_line(d: Diagnosis, ctx: FixContext, text: str) -> int | None:
    """The file line the diagnosis points at: the engine's quoted line if it is in the file once, else d.line."""
    f = d.fact
    if f and f.line_text:
        hits = [i for i, line in enumerate(text.split("\n"), 1) if line.strip() == f.line_text.strip()]
        if len(hits) == 1:
            return hits[0]
    return d.line if d.line and d.line <= text.count("\n") + 1 else None


def _parses_after(ctx: FixContext, d: Diagnosis, old_line: str, new_line: str) -> bool | None:
    """Apply the same line change to the node's compiled SQL and ask the warehouse whether it parses."""
    compiled = ctx.compiled_sql(d.root_cause_node or d.node) or ctx.compiled_sql(d.node) or _without_jinja(ctx.read(d.file))
    if not compiled:
        return None
    lines = compiled.split("\n")
    hits = [i for i, line in enumerate(lines) if line.rstrip() == old_line.rstrip()]
    if len(hits) != 1:
        return None
    lines[hits[0]] = new_line
    return ctx.sql_parses("\n".join(lines))


def _without_jinja(text: str | None) -> str | None:
    """A model's SQL with `{{ … }}` as a placeholder name and `{% … %}` tags dropped (parser check only)."""
    if not text or "{%" in text and re.search(r"\{%-?\s*(macro|if|for)\b", text):
        return None
    return re.sub(r"\{\{.*?\}\}", "__jinja__", re.sub(r"\{#.*?#\}", "", text, flags=re.S), flags=re.S)


_NOT_ALIASES = KEYWORDS | {"natural"}  # words that may follow a FROM item without being its alias


def _from_alias(body: str) -> str | None:
    """The name the first FROM item goes by (its alias, else its bare or ref()'d name)."""
    m = re.search(r"\bfrom\s+(\{\{.*?\}\}|[\w.\"]+)(?:\s+(?:as\s+)?(\w+))?", body, re.I | re.S)
    if not m:
        return None
    if m.group(2) and m.group(2).lower() not in _NOT_ALIASES:
        return m.group(2)
    names = re.findall(r"['\"](\w+)['\"]", m.group(1)) or [m.group(1).split(".")[-1].strip('"')]
    return names[-1]


@rule("sql.ambiguous_column")
def ambiguous_column(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Qualify an ambiguous column with the preserved side of the join (DuckDB lists the choices)."""
    text = ctx.read(d.file)
    if not d.identifier or text is None:
        return []
    f = d.fact
    choices = [c for c in (f.hints if f else ()) or [c.name for c in d.candidates] if "." in c]
    qualifiers = [c.rsplit(".", 1)[0] for c in choices]
    if len(qualifiers) < 2:
        return []
    body = text[_final_select_start(text):]
    from_alias = _from_alias(body)
    joins = {m.group(2).lower(): (m.group(1) or "inner").lower()
             for m in re.finditer(r"\b(left|right|full|inner|cross)?\s*(?:outer\s+)?join\s+(?:\{\{.*?\}\}\s*(?:as\s+)?)?(\w+)", body, re.I)}
    others = [q for q in qualifiers if q.lower() != (from_alias or "").lower()]
    if from_alias and from_alias.lower() in (q.lower() for q in qualifiers) and all(joins.get(q.lower()) == "left" for q in others):
        chosen, margin, why = from_alias, 0.5, f"`{from_alias}` is the preserved side of the left join"
    elif len(others) == 1 and joins.get(others[0].lower()) == "right":
        chosen, margin, why = others[0], 0.5, f"`{others[0]}` is the preserved side of the right join"
    elif from_alias and from_alias.lower() in (q.lower() for q in qualifiers):
        chosen, margin, why = from_alias, 0.0, "inner join: both sides are equally good"
    else:
        return []
    lo, hi = line_span(text, d.line) if d.line and d.line <= text.count("\n") + 1 else (len(text) - len(body), len(text))
    spans = [(s, e) for s, e in word_spans(text, d.identifier, skip_alias=True, after=r"(?<!\.)") if lo <= s < hi]
    if not spans:
        spans = [(s, e) for s, e in word_spans(text, d.identifier, skip_alias=True, after=r"(?<!\.)") if s >= len(text) - len(body)]
    edit = edit_spans(d.file, text, [(s, e, f"{chosen}.{d.identifier}") for s, e in spans])
    if edit is None:
        return []
    conf = score(closeness=0.9, margin=margin, from_message=True, occurrences=len(spans))
    return [ctx.fix(d, f"qualify `{d.identifier}` as `{chosen}.{d.identifier}`: {why}", conf, [edit])]


@rule("sql.group_by")
def group_by_column(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Add the selected column to the final GROUP BY, in select-list order."""
    text = ctx.read(d.file)
    if not d.identifier or text is None:
        return []
    start = _final_select_start(text)
    depths = paren_depths(text)
    groups = [m for m in re.finditer(r"\bgroup\s+by\s+(?P<items>[^\n]*)", text[start:], re.I) if depths[start + m.start()] == 0]
    if len(groups) != 1:
        return []
    g = groups[0]
    items_start = start + g.start("items")
    items_text = re.split(r"\s+(?:having|order\s+by|limit|qualify)\b|\s*--", g.group("items"), flags=re.I)[0].rstrip()
    items = [i.strip() for i in items_text.split(",")]
    if any(re.fullmatch(r"\d+|all", i, re.I) for i in items):
        return []
    select_text = text[start:start + g.start()]
    exprs = [m.group(0) for m in re.finditer(rf"(?<![\w$.])(?:\w+\.)?{re.escape(d.identifier)}(?![\w$])", select_text)
             if not re.search(r"\bas\s+$", select_text[: m.start()][-8:], re.I)]
    if not exprs or len(set(exprs)) != 1:
        return []
    expr = exprs[0]
    pos_of = lambda e: select_text.find(e) if e in select_text else len(select_text)  # noqa: E731
    insert_at = next((k for k, item in enumerate(items) if pos_of(item) > pos_of(expr)), len(items))
    new_items = ", ".join(items[:insert_at] + [expr] + items[insert_at:])
    edit = edit_spans(d.file, text, [(items_start, items_start + len(items_text), new_items)])
    if edit is None:
        return []
    conf = score(closeness=0.9, from_message=True, occurrences=len(exprs))
    return [ctx.fix(d, f"add `{expr}` to the GROUP BY (the message asks for it)", conf, [edit])]


@rule("sql.syntax")
def missing_comma(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`syntax error at or near "x"` where x starts a line: the previous select item lacks its comma.

    Near "." where the line starts with `t.col`: the parser took `t` as the previous item's alias.
    """
    text = ctx.read(d.file)
    if not d.identifier or text is None:
        return []
    lines = text.split("\n")
    n = _locate_line(d, ctx, text)
    starts = n and (lines[n - 1].strip().lower().startswith(d.identifier.lower())
                    or d.identifier == "." and re.match(r"\s*\w+\s*\.", lines[n - 1]))
    if not starts or _CLAUSE.match(lines[n - 1]):
        return []
    prev = next((i for i in range(n - 2, -1, -1) if lines[i].strip()), None)
    if prev is None:
        return []
    code = re.split(r"\s--", lines[prev])[0].rstrip()
    if not code or code.endswith((",", "(")) or _CLAUSE.match(code) or re.search(r"\b(and|or|as|case|when|then|else)$", code, re.I):
        return []
    new_line = code + "," + lines[prev][len(code):]
    verified = _parses_after(ctx, d, lines[prev], new_line)
    if verified is False:
        return []
    edit = edit_spans(d.file, text, [(line_span(text, prev + 1)[0], line_span(text, prev + 1)[1], new_line)])
    if edit is None:
        return []
    conf = score(closeness=0.85, verified=verified)
    return [ctx.fix(d, f"add the missing comma before `{d.identifier}` (line {prev + 1})", conf, [edit])]


# Keywords long enough that a misspelling of them is recognisable (`on`, `as`, `by` are not).
TYPO_KEYWORDS = sorted(k for k in KEYWORDS if len(k) >= 4)


@rule("sql.syntax")
def keyword_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`selct`, `left jion`, `gruop by`: the token the parser stopped at is a misspelled keyword, or the
    word before it is (`form t`, `whre a`, `ordr by`: the misspelling was read as an alias)."""
    text = ctx.read(d.file)
    token = d.identifier or ""
    if not token or text is None:
        return []
    n = _locate_line(d, ctx, text)
    if not n:
        return []
    line = text.split("\n")[n - 1]
    spans = word_spans(line, token)
    if len(spans) != 1:
        return []
    start, end = spans[0]
    before = re.search(r"(\w+)\s+$", line[:start])
    words = [(start, end)] + ([before.span(1)] if before else [])
    # Plausible keywords for each word, closest first; the warehouse's parser rules out those that do not fit.
    fits: list[tuple[float, str, str, str, bool | None]] = []
    for s, e in words:
        word = line[s:e]
        if len(word) < 3 or word.lower() in KEYWORDS:
            continue
        plausible = sorted(((closeness(word, k), k) for k in TYPO_KEYWORDS), key=lambda ck: (-ck[0], ck[1]))
        for close, keyword in [ck for ck in plausible if ck[0] > 0][:4]:
            new_line = line[:s] + (keyword.upper() if word.isupper() else keyword) + line[e:]
            verified = _parses_after(ctx, d, line, new_line)
            if verified is not False:
                fits.append((close, word, keyword, new_line, verified))
    if not fits:
        return []
    fits.sort(key=lambda f: -f[0])
    close, word, keyword, new_line, verified = fits[0]
    edit = edit_spans(d.file, text, [(*line_span(text, n), new_line)])
    if edit is None:
        return []
    margin = close - (fits[1][0] if len(fits) > 1 else 0.0)
    conf = score(closeness=close, margin=margin, verified=verified)
    return [ctx.fix(d, f"keyword misspelled on line {n}: `{word}` -> `{keyword}`", conf, [edit])]


@rule("sql.syntax")
def trailing_semicolon(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """A model ending in `;`: dbt wraps the SQL in `create ... as (...)`, where the semicolon cannot parse."""
    text = ctx.read(d.file)
    if d.identifier != ";" or text is None:
        return []
    m = re.search(r";(?P<tail>(?:\s|--[^\n]*|/\*.*?\*/|\{#.*?#\})*)$", text, re.S)
    if not m or text.count(";") != 1:
        return []
    edit = edit_spans(d.file, text, [(m.start(), m.end(), m.group("tail"))])
    if edit is None:
        return []
    conf = score(closeness=0.95)  # the only `;` in the file, with nothing but comments after it
    return [ctx.fix(d, "remove the trailing `;` (dbt wraps the model's SQL)", conf, [edit])]


@rule("sql.syntax")
def unbalanced_paren(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Balance the parentheses on the reported line, keeping only repairs the warehouse parses."""
    text = ctx.read(d.file)
    if text is None:
        return []
    n = _locate_line(d, ctx, text)
    if not n:
        return []
    line = text.split("\n")[n - 1]
    depth = paren_depths(line + " ")[-1]
    if depth > 0:
        spots = [m.start() for m in re.finditer(r"(?<=\S)(?=\s)", line)] + [len(line.rstrip().rstrip(","))]
        variants = [line[:i] + ")" + line[i:] for i in dict.fromkeys(spots)]
    elif depth < 0:
        variants = [line[:i] + line[i + 1:] for i, ch in enumerate(line) if ch == ")"]
    else:
        return []
    good = [v for v in variants if _parses_after(ctx, d, line, v)]
    if not good:
        return []
    token = (d.identifier or "").lower()
    preferred = [v for v in good if token and re.search(rf"\)\s+{re.escape(token)}\b", v, re.I)]
    best = (preferred or good)[0]
    margin = 1.0 if len(good) == 1 else (0.2 if len(preferred) == 1 else 0.0)
    edit = edit_spans(d.file, text, [(*line_span(text, n), best)])
    if edit is None:
        return []
    conf = score(closeness=0.9, margin=margin, verified=True)
    return [ctx.fix(d, f"balance the parentheses on line {n}", conf, [edit])]


@rule("sql.unquoted_date_part", "sql.column_not_found")
def quote_date_part(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`datediff(day, a, b)` -> `datediff('day', a, b)` (DuckDB's column candidates mislead here)."""
    text = ctx.read(d.file)
    part = (d.identifier or "").strip("'\"")
    if part.lower() not in DATE_PARTS or text is None:
        return []
    funcs = "|".join(DATE_FUNCTIONS)
    spans = word_spans(text, part, after=rf"(?:{funcs})\s*\(\s*")
    edit = edit_spans(d.file, text, [(s, e, f"'{text[s:e]}'") for s, e in spans])
    if edit is None:
        return []
    conf = score(closeness=0.9, occurrences=len(spans))
    return [ctx.fix(d, f"quote the date part `{part}` passed to a date function", conf, [edit])]


def _operand_end(text: str, i: int) -> int | None:
    """End of the operand starting at `i`: a parenthesised group or a (qualified) name or call."""
    m = re.match(r"\s*", text[i:])
    i += m.end()
    if i < len(text) and text[i] == "(":
        j, depth = i, 0
    else:
        m = re.match(r"[\w.\"]+", text[i:])
        if not m:
            return None
        j = i + m.end()
        if j >= len(text) or text[j] != "(":
            return j
        depth = 0
    for k in range(j, len(text)):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 0:
            return k + 1
    return None


@rule("sql.division_by_zero")
def nullif_divisor(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`a // b` -> `a // nullif(b, 0)`: the result becomes NULL, which changes what the data means (capped)."""
    text = ctx.read(d.file)
    if text is None:
        return []
    ops = [m for m in re.finditer(r"//|(?<![\w'])%(?![\w'])", text)]
    if d.line:
        lo, hi = line_span(text, d.line) if d.line <= text.count("\n") + 1 else (0, len(text))
        ops = [m for m in ops if lo <= m.start() < hi] or ops
    if not ops:
        return []
    m = ops[0]
    start = m.end() + len(text[m.end():]) - len(text[m.end():].lstrip())
    end = _operand_end(text, m.end())
    if end is None:
        return []
    divisor = text[start:end]
    edit = edit_spans(d.file, text, [(start, end, f"nullif({divisor}, 0)")])
    if edit is None:
        return []
    conf = score(closeness=0.9, occurrences=len(ops), cap=MEANING_CHANGE_CAP)
    why = f"guard the divisor `{divisor}` with nullif(…, 0): rows dividing by zero become NULL (changes the data)"
    return [ctx.fix(d, why, conf, [edit], needs_review=True)]


@rule("sql.alias_not_found")
def wrong_alias(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`o.status` where no `o` is in scope: use the candidate table that has every referenced column."""
    text = ctx.read(d.file)
    if not d.identifier or text is None:
        return []
    alias = d.identifier
    f = d.fact
    scope = d.details.get("tables_in_scope") or []
    tables = list(dict.fromkeys([*(f.hints if f else ()), *(c.name for c in d.candidates), *scope]))
    spans = word_spans(text, alias, before=r"(?=\s*\.\s*\w)")
    cols = {m.group(1) for m in re.finditer(rf"(?<![\w$.]){re.escape(alias)}\s*\.\s*(\w+)", text)}
    if not tables or not spans:
        return []
    fits, known = tables, {}
    if len(tables) > 1:
        by_table = d.details.get("columns_by_table") or {}  # what the diagnosis found each table to have
        known = {t: by_table.get(t) for t in tables}
        fits = [t for t, c in known.items() if c and cols <= {x.lower() for x in c} | set(c)]
        if not any(known.values()):  # columns unknown: an alias usually abbreviates its table's name
            fits = [t for t in tables if t.lower().startswith(alias.lower())] or tables
    chosen = fits[0] if fits else tables[0]
    margin = 1.0 if len(fits) == 1 else 0.0
    edit = edit_spans(d.file, text, [(s, e, chosen) for s, e in spans])
    if edit is None:
        return []
    conf = score(closeness=0.9 if len(tables) == 1 or any(known.values()) else 0.75, margin=margin, from_message=True, occurrences=len(spans))
    why = f"alias `{alias}` is not defined; `{chosen}` is " + ("the only table in scope" if len(tables) == 1 else f"the one with {', '.join(sorted(cols))}")
    return [ctx.fix(d, why, conf, [edit])]


@rule("data.bad_value")
def try_cast_bad_value(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """A value that cannot be cast: suggest `try_cast` (bad rows become NULL: a person decides)."""
    text = ctx.read(d.file)
    if not d.identifier or text is None or not (d.file or "").endswith(".sql"):
        return []
    pat = re.compile(rf"\bcast(?=\s*\(\s*(?:\w+\.)?{re.escape(d.identifier)}\s+as\b)", re.I)
    spans = [(m.start(), m.end(), "try_cast") for m in pat.finditer(text)]
    edit = edit_spans(d.file, text, spans)
    if edit is None:
        return []
    conf = score(closeness=0.8, occurrences=len(spans), cap=REVIEW_CAP)
    why = f"cast `{d.identifier}` with try_cast: values that do not convert become NULL (hides bad data; fix the data instead?)"
    return [ctx.fix(d, why, conf, [edit], needs_review=True)]


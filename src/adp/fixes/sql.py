"""Rules that repair SQL in a model or macro file: qualify, group, punctuate, quote, guard a divisor.

Decisions are read from the failed node's compiled SQL (adp.diagnose.sql_columns); edits go into the files'
text (with Jinja) where the source map (adp.diagnose.locate) traces it. Each candidate is made to the compiled
SQL too and the warehouse's binder judges it before it is proposed (`_choose`)."""
from __future__ import annotations

import itertools
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from adp.diagnose import sql_columns as reader
from adp.diagnose.locate import CompiledMap, SourceEdit
from adp.diagnose.sourcemap import splice
from adp.diagnose.sql_columns import DATE_FUNCTIONS, DATE_PARTS, KEYWORDS, without_jinja
from adp.fixes import group_by
from adp.fixes.confidence import MEANING_CHANGE_CAP, REVIEW_CAP, closeness, score
from adp.fixes.context import FixContext, edit_spans, line_span, rule, word_spans
from adp.models import Diagnosis, Edit, FixProposal
from adp.warehouses import facts as F
from adp.warehouses import for_project
from adp.warehouses.base import Bound
from adp.warehouses.facts import SqlFact

log = logging.getLogger(__name__)

_CLAUSE = re.compile(r"^\s*(from|where|group\s+by|order\s+by|having|qualify|limit|window|union|except|intersect|select|with)\b", re.I)
Span = tuple[int, int, str]  # replace [start, end) with the text
_UNREADABLE = (F.FILE_MISSING, F.LOCKED, F.UNAVAILABLE)  # a binder error that says nothing about the SQL


@dataclass(frozen=True)
class _Sql:
    """What a rule reads: the failed node's compiled SQL traced to its files (adp.diagnose.locate), and the file."""

    map: CompiledMap
    file: str  # the diagnosis's file as the map names it ('' for a map built without the manifest)
    source: str
    dialect: str


def _read(d: Diagnosis, ctx: FixContext) -> _Sql | None:
    """The map of the failed node's compiled SQL; without one, of the file's SQL with its Jinja blanked."""
    source, compiled = ctx.read(d.file), ctx.compiled_sql(d.node)
    cmap = CompiledMap.for_node(ctx.manifest, d.node, ctx.read, compiled) if compiled else None
    blanked = without_jinja(source) if source and not cmap else None
    cmap = cmap or (CompiledMap.build(source, blanked) if blanked else None)
    return _Sql(cmap, d.file if cmap.root.file else "", source, for_project(ctx.project).name) if source and cmap else None


@dataclass(frozen=True)
class _Candidate:
    """One repair: its edits of project files, the same change made to the compiled SQL, and its evidence."""

    why: str
    edits: list[SourceEdit]
    compiled: str | None  # None when the map cannot follow the edit into the compiled SQL (not judged)
    evidence: dict[str, Any]  # score() arguments, `verified` left to the judge


def _candidate(sql: _Sql, why: str, spans: list[Span], on_compiled: bool = False, **evidence: Any) -> _Candidate | None:
    """A repair given as spans of the file, or of the compiled SQL (traced to the files; those Jinja wrote are left out)."""
    if not on_compiled:
        edits = [SourceEdit(sql.file, *span) for span in spans]
        return _Candidate(why, edits, sql.map.apply(edits), evidence)
    traced = [(span, sql.map.source_edit(*span) or _at_end(sql, span)) for span in spans]
    edits = list(dict.fromkeys(e for _, e in traced if e))
    compiled = sql.map.apply(edits) or splice(sql.map.compiled, [span for span, e in traced if e])
    return _Candidate(why, edits, compiled, evidence) if edits else None


def _at_end(sql: _Sql, span: Span) -> SourceEdit | None:
    """Text added after the compiled SQL's last character goes after the file's (past a closing `{{ ref() }}`)."""
    end, (start, stop, new) = len(sql.source.rstrip()), span
    return SourceEdit(sql.file, end, end, new) if start == stop and not sql.map.compiled[start:].strip() and sql.map.root.file == sql.file else None


def _file_edits(d: Diagnosis, ctx: FixContext, edits: list[SourceEdit]) -> list[Edit]:
    """One Edit per file ('' is the diagnosis's); [] when a file cannot be read or its edited lines are not unique."""
    out = []
    for rel in dict.fromkeys(e.file or d.file for e in edits):
        text = ctx.read(rel)
        edit = edit_spans(rel, text, [(e.start, e.end, e.new) for e in edits if (e.file or d.file) == rel]) if text else None
        if edit is None:
            return []
        out.append(edit)
    return out


def _judge(ctx: FixContext, d: Diagnosis, sql: _Sql, candidates: list[_Candidate]) -> tuple[list[bool | None], bool, str]:
    """Each candidate's verdict (gets past this error / does not / cannot tell), whether the binder gave it, a note.
    The binder judges the SQL as it is and with each candidate in one call; the parser when the binder cannot."""
    sqls, started = [c.compiled for c in candidates if c.compiled], time.perf_counter()
    bound = ctx.bind([sql.map.compiled, *sqls]) if sqls else None
    first = _fact(ctx, bound[0]) if bound else None
    if not first or not d.fact or (first.kind, (first.name or "").lower()) != (d.fact.kind, (d.fact.name or "").lower()):
        why = "the warehouse cannot judge now" if bound is None else "the compiled SQL does not fail this way here"
        return [ctx.sql_parses(c.compiled) if c.compiled else None for c in candidates], False, f"binder skipped: {why}"
    each = (time.perf_counter() - started) * 1000 / len(bound)
    log.info("binder judged %d candidate(s) for %s: %.1f ms per query", len(sqls), d.category, each)
    verdicts = iter(_passes(ctx, b, first, sql.map.compiled) for b in bound[1:])
    out = [next(verdicts) if c.compiled else None for c in candidates]
    unknown = f", {out.count(None)} not judged" if None in out else ""
    return out, True, f"binder: {out.count(True)} of {len(candidates)} candidate(s) bind{unknown}, {each:.1f} ms each"


def _fact(ctx: FixContext, bound: Bound) -> SqlFact | None:
    return None if bound.ok else for_project(ctx.project).parse_error(bound.error or "")


def _passes(ctx: FixContext, bound: Bound, first: SqlFact, compiled: str) -> bool | None:
    """It binds, or fails on another fault: not this error, not a syntax error, on a line the SQL already had."""
    fact = _fact(ctx, bound)
    if bound.ok or fact is None or fact.kind in _UNREADABLE:
        return True if bound.ok else (None if fact else False)
    quoted = (fact.line_text or "").removeprefix("describe ").strip()  # the engine's `LINE n:` (DESCRIBE prefixes it)
    other = (fact.kind, (fact.name or "").lower()) != (first.kind, (first.name or "").lower()) and fact.kind != F.SYNTAX
    return other and bool(quoted) and quoted in {line.strip() for line in compiled.split("\n")}


def _choose(d: Diagnosis, ctx: FixContext, sql: _Sql, candidates: list[_Candidate | None],
            cap_review: bool = False) -> list[FixProposal]:
    """The rule's best candidate that binds, as a proposal; none when none binds; needs_review when others bind too."""
    found = sorted((c for c in candidates if c is not None), key=lambda c: -c.evidence["closeness"])  # stable
    verdicts, by_binder, note = _judge(ctx, d, sql, found) if found else ([], False, "")
    kept = sorted(((c, v) for c, v in zip(found, verdicts) if v is not False), key=lambda cv: cv[1] is not True)
    edits = _file_edits(d, ctx, kept[0][0].edits) if kept else []
    if not edits:
        return []
    best, verdict = kept[0]
    rivals = [(c, v) for c, v in kept[1:] if not (c.compiled and best.compiled and reader.same_query(best.compiled, c.compiled, sql.dialect))]
    if by_binder and verdict and any(v for _, v in rivals):
        listed = "; ".join(c.why for c, v in [kept[0], *rivals] if v)
        return [ctx.fix(d, f"several repairs bind, a person chooses: {listed} ({note})", REVIEW_CAP, edits, needs_review=True)]
    evidence = dict(best.evidence)
    if rivals:
        evidence["margin"] = min(evidence.get("margin", 1.0), best.evidence["closeness"] - rivals[0][0].evidence["closeness"])
    return [ctx.fix(d, f"{best.why} ({note})", score(**evidence, verified=verdict), edits, needs_review=cap_review)]


def _locate_line(d: Diagnosis, ctx: FixContext, text: str) -> int | None:
    """The file line the diagnosis points at: the engine's quoted line if it is in the file once, else d.line."""
    quoted = (d.fact.line_text or "").strip() if d.fact else ""
    hits = [i for i, line in enumerate(text.split("\n"), 1) if quoted and line.strip() == quoted]
    return hits[0] if len(hits) == 1 else d.line if d.line and d.line <= text.count("\n") + 1 else None


@rule("sql.ambiguous_column")
def ambiguous_column(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Qualify every unqualified use of the column in its SELECT with the side its join keeps.

    Left join: the FROM side; right join: the joined side; an inner join on that column: both sides are
    equal, the FROM side; a full join: escalate; else each side is a candidate for the binder."""
    sql = _read(d, ctx)
    sides = {c.rsplit(".", 1)[0].lower() for c in (d.fact.hints if d.fact else ()) or [c.name for c in d.candidates] if "." in c}
    if not d.identifier or sql is None or len(sides) < 2:
        return []
    name = d.identifier.lower()
    scopes = [s for s in reader.selects(sql.map.compiled, sql.dialect)
              if s.unqualified(name) and len(sides & {r.alias.lower() for r in s.relations}) >= 2]
    options = [_kept_sides(s, sides, name) for s in scopes]
    if not scopes or not all(options):
        return []
    candidates = []
    for picks in itertools.product(*options):
        spans = [(r.start, r.end, f"{alias}.{sql.map.compiled[r.start:r.end]}") for s, (alias, _, _) in zip(scopes, picks)
                 for r in s.unqualified(name)]
        why = f"qualify `{d.identifier}` as `{picks[0][0]}.{d.identifier}`: " + "; ".join(dict.fromkeys(w for _, w, _ in picks))
        candidates.append(_candidate(sql, why, spans, True, closeness=0.9, margin=min(m for _, _, m in picks),
                                     from_message=True, occurrences=len(spans)))
    return _choose(d, ctx, sql, candidates)


def _kept_sides(s: reader.Select, sides: set[str], name: str) -> list[tuple[str, str, float]]:
    """(alias, why, margin) for each side the column could be read from; [] for a full join (escalate)."""
    rels = [r for r in s.relations if r.alias.lower() in sides]
    first, joined = s.relations[0], [r for r in rels if r is not s.relations[0]]
    if any(r.join == "full" for r in rels):
        return []
    if first in rels and all(r.join == "left" for r in joined):
        return [(first.alias, f"`{first.alias}` is the preserved side of the left join", 0.5)]
    if len(joined) == 1 and joined[0].join == "right":
        return [(joined[0].alias, f"`{joined[0].alias}` is the preserved side of the right join", 0.5)]
    if first in rels and all(r.join == "inner" and f"{first.alias.lower()}.{name}" in r.equated for r in joined):
        return [(first.alias, f"the inner join sets `{first.alias}.{name}` equal on both sides", 0.5)]
    return [(r.alias, f"`{r.alias}` is one side of the {r.join} join", 0.0) for r in rels]


@rule("sql.group_by")
def group_by_column(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Group by what the SELECT leaves ungrouped: append to its GROUP BY (positions to a positional one, items
    as written to a named one; `group by all` is never edited), or add one in the project's style before
    HAVING/QUALIFY/WINDOW/ORDER BY/LIMIT or at the SELECT's end."""
    sql = _read(d, ctx)
    if not d.identifier or sql is None:
        return []
    name = d.identifier.lower()
    style, spans, added = None, [], []
    for s in reader.selects(sql.map.compiled, sql.dialect):
        if not s.aggregates or (s.group and s.group.all):
            continue
        items = s.ungrouped()
        if not any(name in (r.name.lower() for r in refs) or (i.name or "").lower() == name for _, i, refs in items):
            continue
        style = style or (_group_style(ctx, d, sql.dialect) if s.group is None else None)
        new = group_by.missing(s, sql.map.compiled, s.group.style if s.group else style)
        spans.append(group_by.edit(s, sql.map.compiled, new))
        added += new
    if not spans:
        return []
    why = f"add `{', '.join(added)}` to the GROUP BY" if style is None else f"add `group by {', '.join(added)}` ({style}, as the project's models do)"
    return _choose(d, ctx, sql, [_candidate(sql, why, spans, True, closeness=0.9, from_message=True, occurrences=len(added))])


def _group_style(ctx: FixContext, d: Diagnosis, dialect: str) -> str:
    """How the project's other models group: `positions`, `all` or `names` (the default, and on a tie)."""
    counts = Counter(s.group.style for uid, node in ctx.manifest.nodes.items()
                     if node.get("resource_type") == "model" and uid not in (d.node, d.root_cause_node)
                     for s in reader.selects(node.get("compiled_code") or without_jinja(node.get("raw_code")) or "", dialect)
                     if s.group)
    return max(("names", "positions", "all"), key=lambda k: counts[k])


@rule("sql.syntax")
def missing_comma(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`syntax error at or near "x"` where x starts a line: the previous select item lacks its comma.

    Near "." where the line starts with `t.col`: the parser took `t` as the previous item's alias.
    """
    sql = _read(d, ctx)
    if not d.identifier or sql is None:
        return []
    lines = sql.source.split("\n")
    n = _locate_line(d, ctx, sql.source)
    starts = n and (lines[n - 1].strip().lower().startswith(d.identifier.lower())
                    or d.identifier == "." and re.match(r"\s*\w+\s*\.", lines[n - 1]))
    if not starts or _CLAUSE.match(lines[n - 1]):
        return []
    prev = next((i for i in range(n - 2, -1, -1) if lines[i].strip()), None)
    code = re.split(r"\s--", lines[prev])[0].rstrip() if prev is not None else ""
    if not code or code.endswith((",", "(")) or _CLAUSE.match(code) or re.search(r"\b(and|or|as|case|when|then|else)$", code, re.I):
        return []
    new_line = code + "," + lines[prev][len(code):]
    why = f"add the missing comma before `{d.identifier}` (line {prev + 1})"
    return _choose(d, ctx, sql, [_candidate(sql, why, [(*line_span(sql.source, prev + 1), new_line)], closeness=0.85)])


@rule("sql.syntax")
def keyword_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`selct`, `left jion`, `gruop by`: the token the parser stopped at is a misspelled keyword, or the
    word before it is (`form t`, `whre a`, `ordr by`: the misspelling was read as an alias)."""
    sql = _read(d, ctx)
    token = d.identifier or ""
    n = _locate_line(d, ctx, sql.source) if sql and token else None
    if not n:
        return []
    line = sql.source.split("\n")[n - 1]
    spans = word_spans(line, token)
    if len(spans) != 1:
        return []
    start, end = spans[0]
    before = re.search(r"(\w+)\s+$", line[:start])
    candidates = []
    for s, e in [(start, end)] + ([before.span(1)] if before else []):
        word = line[s:e]
        if len(word) < 3 or word.lower() in KEYWORDS:
            continue
        plausible = sorted(((closeness(word, k), k) for k in KEYWORDS if len(k) >= 4), key=lambda ck: (-ck[0], ck[1]))  # not `on`, `by`
        for close, keyword in [ck for ck in plausible if ck[0] > 0][:4]:
            new_line = line[:s] + (keyword.upper() if word.isupper() else keyword) + line[e:]
            why = f"keyword misspelled on line {n}: `{word}` -> `{keyword}`"
            candidates.append(_candidate(sql, why, [(*line_span(sql.source, n), new_line)], closeness=close, margin=close))
    return _choose(d, ctx, sql, candidates)


@rule("sql.syntax")
def trailing_semicolon(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """A model ending in `;`: dbt wraps the SQL in `create ... as (...)`, where the semicolon cannot parse."""
    sql = _read(d, ctx)
    if d.identifier != ";" or sql is None:
        return []
    m = re.search(r";(?P<tail>(?:\s|--[^\n]*|/\*.*?\*/|\{#.*?#\})*)$", sql.source, re.S)
    if not m or sql.source.count(";") != 1:
        return []
    why = "remove the trailing `;` (dbt wraps the model's SQL)"  # the only `;`, nothing but comments after it
    return _choose(d, ctx, sql, [_candidate(sql, why, [(m.start(), m.start() + 1, "")], closeness=0.95)])


@rule("sql.syntax")
def unbalanced_paren(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Balance the parentheses on the reported line, keeping only repairs the warehouse accepts."""
    sql = _read(d, ctx)
    n = _locate_line(d, ctx, sql.source) if sql else None
    if not n:
        return []
    line = sql.source.split("\n")[n - 1]
    depth = reader.paren_balance(line, sql.dialect) or 0
    if depth > 0:
        spots = [m.start() for m in re.finditer(r"(?<=\S)(?=\s)", line)] + [len(line.rstrip().rstrip(","))]
        variants = [line[:i] + ")" + line[i:] for i in dict.fromkeys(spots)]
    elif depth < 0:
        variants = [line[:i] + line[i + 1:] for i, ch in enumerate(line) if ch == ")"]
    else:
        return []
    token = (d.identifier or "").lower()
    # A `)` right before the token the parser stopped at is the likelier repair.
    preferred = [v for v in variants if token and re.search(rf"\)\s+{re.escape(token)}\b", v, re.I)]
    candidates = [_candidate(sql, f"balance the parentheses on line {n}", [(*line_span(sql.source, n), v)],
                             closeness=0.9 if v in preferred else 0.7) for v in variants]
    return _choose(d, ctx, sql, candidates)


@rule("sql.unquoted_date_part", "sql.column_not_found")
def quote_date_part(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`datediff(day, a, b)` -> `datediff('day', a, b)` (DuckDB's column candidates mislead here)."""
    part = (d.identifier or "").strip("'\"")
    sql = _read(d, ctx) if part.lower() in DATE_PARTS else None
    if sql is None:
        return []
    spans = [(s, e, f"'{sql.source[s:e]}'") for s, e in word_spans(sql.source, part, after=rf"(?:{'|'.join(DATE_FUNCTIONS)})\s*\(\s*")]
    if not spans:
        return []
    why = f"quote the date part `{part}` passed to a date function"
    return _choose(d, ctx, sql, [_candidate(sql, why, spans, closeness=0.9, occurrences=len(spans))])


@rule("sql.division_by_zero")
def nullif_divisor(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`a // b` -> `a // nullif(b, 0)`: the result becomes NULL, which changes what the data means (capped)."""
    sql = _read(d, ctx)
    text = sql.source if sql else ""
    ops = [m for m in re.finditer(r"//|(?<![\w'])%(?![\w'])", text)]
    if d.line:
        lo, hi = line_span(text, d.line) if d.line <= text.count("\n") + 1 else (0, len(text))
        ops = [m for m in ops if lo <= m.start() < hi] or ops
    if not ops:
        return []
    start = ops[0].end() + len(text[ops[0].end():]) - len(text[ops[0].end():].lstrip())
    end = reader.operand_end(text, ops[0].end(), sql.dialect)
    divisor = text[start:end] if end else ""
    if not divisor:
        return []
    why = f"guard the divisor `{divisor}` with nullif(…, 0): rows dividing by zero become NULL (changes the data)"
    spans = [(start, end, f"nullif({divisor}, 0)")]
    return _choose(d, ctx, sql, [_candidate(sql, why, spans, closeness=0.9, occurrences=len(ops), cap=MEANING_CHANGE_CAP)], True)


@rule("sql.alias_not_found")
def wrong_alias(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`o.status` where no `o` is in scope: use the candidate table that has every referenced column."""
    sql = _read(d, ctx)
    if not d.identifier or sql is None:
        return []
    alias, scope = d.identifier, d.details.get("tables_in_scope") or []
    tables = list(dict.fromkeys([*(d.fact.hints if d.fact else ()), *(c.name for c in d.candidates), *scope]))
    spans = word_spans(sql.source, alias, before=r"(?=\s*\.\s*\w)")
    cols = {r.name for s in reader.selects(sql.map.compiled, sql.dialect) for r in s.refs if (r.qualifier or "").lower() == alias.lower()}
    if not tables or not spans:
        return []
    fits, known = tables, {}
    if len(tables) > 1:
        by_table = d.details.get("columns_by_table") or {}  # what the diagnosis found each table to have
        known = {t: by_table.get(t) for t in tables}
        fits = [t for t, c in known.items() if c and cols <= {x.lower() for x in c} | set(c)]
        if not any(known.values()):  # columns unknown: an alias usually abbreviates its table's name
            fits = [t for t in tables if t.lower().startswith(alias.lower())] or tables
    close = 0.9 if len(tables) == 1 or any(known.values()) else 0.75
    which = "the only table in scope" if len(tables) == 1 else f"the one with {', '.join(sorted(cols))}"
    return _choose(d, ctx, sql, [_candidate(sql, f"alias `{alias}` is not defined; `{t}` is {which}", [(s, e, t) for s, e in spans],
                                            closeness=close, from_message=True, occurrences=len(spans)) for t in fits or tables])


@rule("data.bad_value")
def try_cast_bad_value(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """A value that cannot be cast: suggest `try_cast` (bad rows become NULL: a person decides)."""
    sql = _read(d, ctx) if (d.file or "").endswith(".sql") else None
    if not d.identifier or sql is None:
        return []
    pat = re.compile(rf"\bcast(?=\s*\(\s*(?:\w+\.)?{re.escape(d.identifier)}\s+as\b)", re.I)
    spans = [(m.start(), m.end(), "try_cast") for m in pat.finditer(sql.source)]
    if not spans:
        return []
    why = f"cast `{d.identifier}` with try_cast: values that do not convert become NULL (hides bad data; fix the data instead?)"
    return _choose(d, ctx, sql, [_candidate(sql, why, spans, closeness=0.8, occurrences=len(spans), cap=REVIEW_CAP)], True)

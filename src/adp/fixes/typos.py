"""Rules that replace a misspelled identifier with its clear best candidate.

For SQL names (columns, functions, types) each ranked candidate's rename is made in the node's compiled SQL
through the source map (every compiled copy of a Jinja loop's literal changes) and the warehouse's binder
judges them all in one call: only candidates that bind are proposed.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Callable

from adp.diagnose.locate import CompiledMap, SourceEdit
from adp.fixes.confidence import (
    MEANING_CHANGE_CAP, TIE_MARGIN, Choice, Ranked, choices, is_typo_fix, rank, score, separation,
)
from adp.fixes.context import FixContext, edit_spans, rule, word_spans
from adp.models import Diagnosis, Edit, FixProposal
from adp.warehouses import for_project
from adp.warehouses.base import Bound

log = logging.getLogger(__name__)

_QUOTE = r"['\"]"
Spans = Callable[[str], "list[tuple[int, int]]"]
Cap = Callable[[str, bool], float]  # (candidate, judged by the binder) -> the confidence cap


def _choose(d: Diagnosis, wrong: str, pool: list[str] = ()) -> tuple[Ranked, bool] | None:
    """Best replacement among the diagnosis' candidates and `pool`, and whether the message offered it."""
    offered = {c.name for c in d.candidates if c.source == "message"}
    names = [c.name for c in d.candidates] + list(pool)
    best = rank(wrong, names)
    return (best, best.name in offered) if best else None


@dataclass(frozen=True)
class _Verdict:
    """The binder's judgement of a rename's candidates."""

    binds: dict[str, bool] | None  # candidate -> its compiled SQL binds past this error; None: the judge was skipped
    note: str  # what the rationale says about it


def _rename(
    ctx: FixContext, d: Diagnosis, rel: str | None, wrong: str, spans_of: Spans, why: str,
    pool: list[str] = (), cap: float = 1.0, new_text=None, judge: bool = False, cap_for: Cap | None = None,
) -> list[FixProposal]:
    """Shared body: rank, locate every occurrence with `spans_of(text)`, score, build one proposal.

    `new_text(name, text, start, end)` gives the replacement of one occurrence (default: the name). With
    `judge`, the binder judges each candidate (see the module docstring), and a name Jinja built (absent
    from the file) is traced through the compiled SQL to the literal that wrote it.
    """
    text = ctx.read(rel)
    if text is None:
        return []
    cmap = CompiledMap.for_node(ctx.manifest, d.node, ctx.read, ctx.compiled_sql(d.node)) if judge and d.node else None

    def edits_for(name: str) -> list[SourceEdit]:
        spans = spans_of(text)
        if spans or cmap is None:
            return [SourceEdit(rel, s, e, new_text(name, text, s, e) if new_text else name) for s, e in spans]
        found = {cmap.source_edit(s, e, name) for s, e in spans_of(cmap.compiled)}
        return sorted(found, key=lambda x: (x.file, x.start)) if found and None not in found else []

    cap_for = cap_for or (lambda name, judged: cap)
    note = ""
    if judge:
        offered = {c.name for c in d.candidates if c.source == "message"}
        options = choices(wrong, [c.name for c in d.candidates] + list(pool), offered)
        edits = {c.name: edits_for(c.name) for c in options}
        verdict = _judge(ctx, cmap, wrong, {n: e for n, e in edits.items() if e})
        if verdict.binds is not None:
            return _judged(ctx, d, wrong, options, edits, verdict, why, cap_for)
        note = f"; {verdict.note}"
    chosen = _choose(d, wrong, pool)
    found = edits_for(chosen[0].name) if chosen else []
    file_edits = _file_edits(ctx, found)
    if not file_edits:
        return []
    best, from_message = chosen
    conf = score(closeness=best.closeness, margin=best.margin, from_message=from_message, occurrences=len(found),
                 cap=cap_for(best.name, False))
    origin = "the error message suggested it" if from_message else "found by lookup"
    rationale = f"{why}: `{wrong}` -> `{best.name}` (similarity {best.closeness:.2f}, {origin}{note})"
    return [ctx.fix(d, rationale, conf, file_edits)]


def _file_edits(ctx: FixContext, edits: list[SourceEdit]) -> list[Edit]:
    """One Edit per file; [] when there is none, or a file cannot be read or its edited lines are not unique."""
    out = []
    for rel in dict.fromkeys(e.file for e in edits):
        text = ctx.read(rel)
        edit = edit_spans(rel, text, [(e.start, e.end, e.new) for e in edits if e.file == rel]) if text is not None else None
        if edit is None:
            return []
        out.append(edit)
    return out


def _judge(ctx: FixContext, cmap: CompiledMap | None, wrong: str, edits: dict[str, list[SourceEdit]]) -> _Verdict:
    """Bind the compiled SQL as it is and with each candidate's edits, in one call to the warehouse."""
    sqls = {name: cmap.apply(e) for name, e in edits.items()} if cmap else {}
    if not sqls or None in sqls.values():
        return _Verdict(None, "binder skipped: the edit cannot be made in the compiled SQL")
    start = time.perf_counter()
    bound = ctx.bind([cmap.compiled, *sqls.values()])
    each = (time.perf_counter() - start) * 1000 / (len(sqls) + 1)
    if bound is None:
        return _Verdict(None, "binder skipped: the warehouse cannot judge now")
    if (_failed_name(ctx, bound[0]) or "").lower() != wrong.lower():
        return _Verdict(None, f"binder skipped: the compiled SQL does not fail on `{wrong}` when it binds here")
    binds = {name: _passes(ctx, b, (wrong, name), cmap.compiled) for name, b in zip(sqls, bound[1:])}
    log.info("binder judged %d candidate(s) for `%s`: %.1f ms per query", len(sqls), wrong, each)
    return _Verdict(binds, f"binder: {sum(binds.values())} of {len(binds)} candidates bind, {each:.1f} ms each")


def _passes(ctx: FixContext, bound: Bound, names: tuple[str, str], compiled: str) -> bool:
    """The query binds, or fails on another name the compiled SQL already had (another fault of the node).

    `names` are the wrong name and the candidate. A name the edit wrote (the candidate, even where the
    compiled SQL has it elsewhere, or a loop's other copy of it) that fails is the candidate's fault.
    """
    if bound.ok:
        return True
    name = _failed_name(ctx, bound) or ""
    written = re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", compiled, re.I) if name else None
    return bool(written) and name.lower() not in {n.rsplit(".", 1)[-1].lower() for n in names}


def _failed_name(ctx: FixContext, bound: Bound) -> str | None:
    """The name the engine's error is about (None when the query binds or the error names nothing)."""
    fact = None if bound.ok else for_project(ctx.project).parse_error(bound.error or "")
    return fact.name if fact else None


def _judged(
    ctx: FixContext, d: Diagnosis, wrong: str, options: list[Choice], edits: dict[str, list[SourceEdit]],
    verdict: _Verdict, why: str, cap_for: Cap,
) -> list[FixProposal]:
    """One proposal for the best candidate that binds; needs_review when another binds about as well."""
    binding = [c for c in options if verdict.binds.get(c.name)]
    if not binding:
        log.info("no candidate for `%s` binds: %s", wrong, ", ".join(c.name for c in options))
        return []
    best = binding[0]
    others = [c for c in binding[1:] if c.name.lower() != best.name.lower()]
    margin = separation(wrong, best, others[0] if others else None)
    file_edits = _file_edits(ctx, edits[best.name])
    if not file_edits:
        return []
    conf = score(closeness=best.closeness, margin=margin, from_message=best.from_message,
                 occurrences=len(edits[best.name]), verified=True, cap=cap_for(best.name, True))
    origin = "the error message suggested it" if best.from_message else "found by lookup"
    review = margin < TIE_MARGIN
    also = f"; {', '.join(c.name for c in others)} also bind{'s' * (len(others) == 1)}: a person decides" if review else ""
    rationale = f"{why}: `{wrong}` -> `{best.name}` (similarity {best.closeness:.2f}, {origin}; {verdict.note}{also})"
    return [ctx.fix(d, rationale, conf, file_edits, needs_review=review)]


@rule("sql.column_not_found")
def column_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """A misspelled column, in SQL (qualified or not) or in YAML (tested column, snapshot key)."""
    if not d.identifier:
        return []
    f = d.fact
    qualifier = d.details.get("qualifier") or (f.relation if f and f.relation else None)
    is_yaml = PurePosixPath(d.file or "").suffix in (".yml", ".yaml")

    def spans(text: str) -> list[tuple[int, int]]:
        if qualifier:
            return word_spans(text, d.identifier, after=rf'"?{re.escape(qualifier)}"?\s*\.\s*"?')
        return word_spans(text, d.identifier, skip_alias=not is_yaml)

    def keep_output_name(name: str, text: str, start: int, end: int) -> str:
        """`p.state,` -> `p.status as state` when the column was renamed upstream and users still read `state`."""
        if not is_yaml and _bare_select_item(text, start, end) and _read_downstream(ctx, d.node, d.identifier):
            return f"{name} as {d.identifier}"
        return name

    # `where status = "placed"`: a string in double quotes reads as a column; renaming it to a close
    # column (`"stat"` -> `"state"`) would compare a column with itself. A person decides, unless the
    # binder accepts a candidate that must be quoted (`"Net Amont"` -> `"Net Amount"`): an identifier.
    text = ctx.read(d.file) or ""
    quoted = not is_yaml and any(text[s - 1:s] == '"' and text[e:e + 1] == '"' for s, e in spans(text))

    def cap_for(name: str, judged: bool) -> float:
        return 1.0 if not quoted or (judged and _needs_quotes(name)) else MEANING_CHANGE_CAP

    return _rename(ctx, d, d.file, d.identifier, spans, "column name misspelled",
                   new_text=keep_output_name, judge=not is_yaml, cap_for=cap_for)


def _needs_quotes(name: str) -> bool:
    """A column name SQL can only write in double quotes (a space, upper case, punctuation)."""
    return not re.fullmatch(r"[a-z_][a-z0-9_$]*", name)


def _bare_select_item(text: str, start: int, end: int) -> bool:
    """The identifier at text[start:end] is a whole select item without an alias (`x,` or `t.x` before FROM)."""
    return bool(re.search(r"(?:^|,|\bselect|\bdistinct)\s*(?:\w+\s*\.\s*)?$", text[max(0, start - 200):start], re.I)
                and re.match(r"\s*(?:,|from\b)", text[end:], re.I))


def _read_downstream(ctx: FixContext, node: str | None, column: str) -> bool:
    """Whether the node's YAML declares `column` or a model built on the node names it."""
    found = ctx.manifest.node(node or "") or {}
    if column.lower() in {c.lower() for c in found.get("columns", {})}:
        return True
    word = re.compile(rf"(?<![\w$]){re.escape(column)}(?![\w$])", re.I)
    children = [ctx.manifest.node(c) or {} for c in ctx.manifest.child_map.get(node or "", [])]
    return any(c.get("resource_type") in ("model", "snapshot") and word.search(c.get("raw_code") or "") for c in children)


@rule("sql.function_not_found")
def function_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`summ(amount)` -> `sum(amount)`: a misspelled function, among the engine's functions and the message's hints."""
    if not d.identifier:
        return []
    name = d.identifier.split(".")[-1]
    return _rename(ctx, d, d.file, name,
                    lambda t: word_spans(t, name, before=r"(?=\s*\()"), "function name misspelled", judge=True)


# Type names common to SQL engines: the lookup pool when the message offers no (or a poor) suggestion.
SQL_TYPES = (
    "boolean tinyint smallint integer int bigint hugeint decimal numeric real float double varchar char text "
    "string date time timestamp timestamptz interval binary blob uuid json"
).split()


@rule("sql.type_not_found")
def type_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`cast(x as dat)` -> `cast(x as date)`, in the case the type is written in the file."""
    if not d.identifier:
        return []
    wrong = d.identifier

    def spans(text: str) -> list[tuple[int, int]]:
        return word_spans(text, wrong, after=r"(?:(?<=\bas\s)|(?<=::))")

    text = ctx.read(d.file) or ""
    found = spans(text)
    written = text[found[0][0]:found[0][1]] if found else wrong
    return _rename(ctx, d, d.file, wrong, spans, "data type misspelled", SQL_TYPES,
                    new_text=lambda name, *_: name.upper() if written.isupper() else name.lower(), judge=True)


@rule("dbt.macro_undefined")
def macro_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`{{ safe_divde(...) }}` -> `{{ safe_divide(...) }}`: a call to a macro nothing defines, among the project's macros.

    A namespaced call (`pkg.macro`) is `dbt_names.package_macro_typo`'s: its candidates are that package's macros.
    """
    if not d.identifier or "." in d.identifier:
        return []
    pool = [m for m in ctx.macro_names() if not m.startswith(("test_", "materialization_"))]
    return _rename(ctx, d, d.file, d.identifier,
                    lambda t: word_spans(t, d.identifier, before=r"(?=\s*\()"), "macro name misspelled", pool)


@rule("dbt.test_not_found")
def test_name_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`- uniq` -> `- unique` in a YAML test list (a spelling fix, which the guards allow)."""
    if not d.identifier:
        return []
    wrong = d.identifier.removeprefix("test_")
    pool = [m[5:] for m in ctx.macro_names() if m.startswith("test_")]
    return _rename(ctx, d, d.file, wrong,
                    lambda t: word_spans(t, wrong, after=r"(?:-\s+|[\[,]\s*)", before=r"(?=[ \t]*[:,\]\n])"),
                    "generic test name misspelled", pool)


@rule("dbt.ref_not_found")
def ref_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`ref('stg_order')` -> `ref('stg_orders')`: a ref() to a node that does not exist, among the project's nodes."""
    if not d.identifier:
        return []
    after = rf"ref\s*\(\s*(?:{_QUOTE}\w+{_QUOTE}\s*,\s*)?{_QUOTE}"
    return _rename(ctx, d, d.file, d.identifier,
                    lambda t: word_spans(t, d.identifier, after=after, before=rf"(?={_QUOTE})"),
                    "ref() names a model that does not exist", ctx.node_names())


@rule("dbt.source_not_found")
def source_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`source('payments_export', 'raw_payment')` -> `..., 'raw_payments')`: both names of the call are fixed together."""
    if not d.identifier or "." not in d.identifier:
        return []
    text = ctx.read(d.file)
    chosen = _choose(d, d.identifier, [f"{s}.{t}" for s, t in ctx.source_tables()])
    if text is None or chosen is None:
        return []
    best, from_message = chosen
    (old_src, old_tbl), (new_src, new_tbl) = d.identifier.split(".", 1), best.name.split(".", 1)
    call = re.compile(rf"source\s*\(\s*{_QUOTE}(?P<s>[^'\"]+){_QUOTE}\s*,\s*{_QUOTE}(?P<t>[^'\"]+){_QUOTE}\s*\)")
    spans = []
    for m in call.finditer(text):
        if (m.group("s"), m.group("t")) == (old_src, old_tbl):
            spans += [(m.start("s"), m.end("s"), new_src), (m.start("t"), m.end("t"), new_tbl)]
    edit = edit_spans(d.file, text, spans)
    if edit is None:
        return []
    conf = score(closeness=best.closeness, margin=best.margin, from_message=from_message, occurrences=len(spans) // 2)
    return [ctx.fix(d, f"source() misspelled: `{d.identifier}` -> `{best.name}`", conf, [edit])]


@rule("dbt.materialization_not_found")
def materialization_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`materialized='tabel'` -> `'table'`, in the model, its YAML or dbt_project.yml (the first file that has it)."""
    if not d.identifier:
        return []
    pool = [re.sub(r"^materialization_|_[a-z]+$", "", m) for m in ctx.macro_names() if m.startswith("materialization_")]
    pool += ["table", "view", "incremental", "ephemeral"]
    after = rf"materialized{_QUOTE}?\s*[=:]\s*{_QUOTE}?"
    files = [d.file, "dbt_project.yml", *ctx.project_files("model-paths", "models", (".yml", ".yaml"))]
    for rel in dict.fromkeys(f for f in files if f):
        found = _rename(ctx, d, rel, d.identifier,
                         lambda t: word_spans(t, d.identifier, after=after), "materialization misspelled", pool)
        if found:
            return found
    return []


@rule("env.profile")
def profile_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`profile:` in dbt_project.yml names a profile profiles.yml does not have."""
    if not d.identifier:
        return []
    pool = [k for k in ctx.project.profiles() if k != "config"]
    if not pool:
        return []  # no profiles.yml at all: not a typo
    return _rename(ctx, d, "dbt_project.yml", d.identifier,
                    lambda t: word_spans(t, d.identifier, after=rf"(?m:^)profile:\s*{_QUOTE}?"),
                    "profile name misspelled", pool)


@rule("env.target")
def target_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """profiles.yml's default `target:` names no output. A --target from the command line is not a file fix."""
    if not d.identifier:
        return []
    command = ctx.result.command if ctx.result else []
    if ctx.project.target or any(a in ("--target", "-t") or a.startswith("--target=") for a in command):
        return []
    root = ctx.project.project_dir.resolve()
    prof = ctx.project.profiles_path().resolve()
    if root not in prof.parents:
        return []
    rel = prof.relative_to(root).as_posix()
    profile = ctx.project.profiles().get(ctx.project.profile_name or "", {})
    pool = list((profile.get("outputs") or {}) if isinstance(profile, dict) else {})
    chosen = _choose(d, d.identifier, pool)
    if chosen is None:
        return []
    typo = is_typo_fix(d.identifier, chosen[0].name)  # otherwise it switches to another target: a person decides
    found = _rename(ctx, d, rel, d.identifier,
                     lambda t: word_spans(t, d.identifier, after=rf"(?m:^)\s+target:\s*{_QUOTE}?"),
                     "default target misspelled" if typo else "default target names no output",
                     pool, cap=1.0 if typo else MEANING_CHANGE_CAP)
    return found if typo else [replace(p, needs_review=True) for p in found]


@rule("sql.table_not_found")
def hardcoded_table(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`from raw_user` -> `from {{ ref('raw_users') }}` (DuckDB's own hint here is misleading)."""
    if not d.identifier:
        return []
    wrong = d.identifier.split(".")[-1].strip('"')
    sources = {t: s for s, t in ctx.source_tables()}
    pool = ctx.node_names() + list(sources)
    trusted = replace(d, candidates=[c for c in d.candidates if c.source != "message"])

    def spans(text: str) -> list[tuple[int, int]]:
        pat = re.compile(rf"\b(?:from|join)\s+(?P<t>(?:\"?\w+\"?\.){{0,2}}\"?{re.escape(wrong)}\"?)(?![\w.])", re.I)
        return [(m.start("t"), m.end("t")) for m in pat.finditer(text)]

    def jinja(name: str, *_: object) -> str:
        if name in sources and name not in ctx.node_names():
            return f"{{{{ source('{sources[name]}', '{name}') }}}}"
        return f"{{{{ ref('{name}') }}}}"

    return _rename(ctx, trusted, d.file, wrong, spans,
                    "hard-coded relation name should be a ref()/source()", pool, new_text=jinja)

"""Rules that replace a misspelled identifier with its clear best candidate."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePosixPath

from adp.fixes.confidence import MEANING_CHANGE_CAP, Ranked, is_typo_fix, rank, score
from adp.fixes.context import FixContext, edit_spans, rule, word_spans
from adp.models import Diagnosis, FixProposal

_QUOTE = r"['\"]"


def _choose(d: Diagnosis, wrong: str, pool: list[str] = ()) -> tuple[Ranked, bool] | None:
    """Best replacement among the diagnosis' candidates and `pool`, and whether the message offered it."""
    offered = {c.name for c in d.candidates if c.source == "message"}
    names = [c.name for c in d.candidates] + list(pool)
    best = rank(wrong, names)
    return (best, best.name in offered) if best else None


def _rename(
    ctx: FixContext, d: Diagnosis, rel: str | None, wrong: str, spans_of, why: str,
    pool: list[str] = (), cap: float = 1.0, new_text=None,
) -> list[FixProposal]:
    """Shared body: rank, locate every occurrence with `spans_of(text)`, score, build one proposal.

    `new_text(name, text, start, end)` gives the replacement of one occurrence (default: the name).
    """
    text = ctx.read(rel)
    chosen = _choose(d, wrong, pool)
    if text is None or chosen is None:
        return []
    best, from_message = chosen
    spans = spans_of(text)
    if not spans:
        return []
    edit = edit_spans(rel, text, [(s, e, new_text(best.name, text, s, e) if new_text else best.name) for s, e in spans])
    if edit is None:
        return []
    conf = score(closeness=best.closeness, margin=best.margin, from_message=from_message, occurrences=len(spans), cap=cap)
    origin = "the error message suggested it" if from_message else "found by lookup"
    rationale = f"{why}: `{wrong}` -> `{best.name}` (similarity {best.closeness:.2f}, {origin})"
    return [ctx.fix(d, rationale, conf, [edit])]


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
            return word_spans(text, d.identifier, after=rf"{re.escape(qualifier)}\s*\.\s*")
        return word_spans(text, d.identifier, skip_alias=not is_yaml)

    def keep_output_name(name: str, text: str, start: int, end: int) -> str:
        """`p.state,` -> `p.status as state` when the column was renamed upstream and users still read `state`."""
        if not is_yaml and _bare_select_item(text, start, end) and _read_downstream(ctx, d.node, d.identifier):
            return f"{name} as {d.identifier}"
        return name

    # `where status = "placed"`: a string in double quotes reads as a column; renaming it to a close
    # column (`"stat"` -> `"state"`) would compare a column with itself. A person decides.
    text = ctx.read(d.file) or ""
    quoted = not is_yaml and any(text[s - 1:s] == '"' and text[e:e + 1] == '"' for s, e in spans(text))
    return _rename(ctx, d, d.file, d.identifier, spans, "column name misspelled",
                   cap=MEANING_CHANGE_CAP if quoted else 1.0, new_text=keep_output_name)


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
                    lambda t: word_spans(t, name, before=r"(?=\s*\()"), "function name misspelled")


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
                    new_text=lambda name, *_: name.upper() if written.isupper() else name.lower())


@rule("dbt.macro_undefined")
def macro_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`{{ safe_divde(...) }}` -> `{{ safe_divide(...) }}`: a call to a macro nothing defines, among the project's macros."""
    if not d.identifier:
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

"""Rules that fix a misspelled name dbt resolves through Jinja: a package's macro, a var(), a ref() built from a literal."""
from __future__ import annotations

import re

from adp.fixes.confidence import rank, score
from adp.fixes.context import FixContext, edit_spans, rule, word_spans
from adp.models import Diagnosis, FixProposal

_QUOTE = r"['\"]"


@rule("dbt.macro_undefined")
def package_macro_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`{{ mypkg.safe_divde(a, b) }}` -> `{{ mypkg.safe_divide(a, b) }}`, among that package's macros (the call is
    edited in the project's file; the package's own files never)."""
    package, _, name = (d.identifier or "").rpartition(".")
    if not package or not name:
        return []
    pool = [m["name"] for m in ctx.manifest.macros.values()
            if m.get("package_name") == package and not m["name"].startswith(("test_", "materialization_"))]
    return _rename(d, ctx, name, pool, lambda t: word_spans(t, d.identifier, before=r"(?=\s*\()"),
                   lambda best: f"{package}.{best}", f"package `{package}` has no macro `{name}`")


@rule("dbt.var_missing")
def var_typo(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`var('strat_date')` -> `var('start_date')`, among the vars dbt_project.yml and `--vars` define."""
    if not d.identifier:
        return []
    pool = [c.name for c in d.candidates]
    after = rf"\bvar\s*\(\s*{_QUOTE}"
    return _rename(d, ctx, d.identifier, pool, lambda t: word_spans(t, d.identifier, after=after, before=rf"(?={_QUOTE})"),
                   str, "var() names no defined variable", offered={c.name for c in d.candidates if c.source == "message"})


@rule("dbt.ref_not_found")
def ref_name_in_jinja(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`{'model': 'stg_ledger__paymnt'}` -> `'stg_ledger__payment'`: a ref() target built by Jinja (`ref(src.model)`),
    when the file has no `ref('...')` call of that name but writes it once as a quoted string."""
    text = ctx.read(d.file) or ""
    if not d.identifier or re.search(rf"\bref\s*\([^)]*{_QUOTE}{re.escape(d.identifier)}{_QUOTE}", text):
        return []  # a plain ref() call: typos.ref_typo's

    def quoted(t: str) -> list[tuple[int, int]]:
        return word_spans(t, d.identifier, after=rf"(?<={_QUOTE})", before=rf"(?={_QUOTE})")

    if len(quoted(text)) != 1:
        return []
    return _rename(d, ctx, d.identifier, ctx.node_names(), quoted, str, "a ref() target built by Jinja names no model")


def _rename(d: Diagnosis, ctx: FixContext, wrong: str, pool: list[str], spans_of, written, why: str,
            offered: set[str] = frozenset()) -> list[FixProposal]:
    """Replace every span `spans_of(text)` of d.file with `written(best)`, the best of `pool` for `wrong`."""
    text = ctx.read(d.file)
    best = rank(wrong, pool)
    spans = spans_of(text) if text is not None and best else []
    edit = edit_spans(d.file, text, [(s, e, written(best.name)) for s, e in spans]) if spans else None
    if edit is None:
        return []
    conf = score(closeness=best.closeness, margin=best.margin, from_message=best.name in offered, occurrences=len(spans))
    rationale = f"{why}: `{wrong}` -> `{best.name}` (similarity {best.closeness:.2f})"
    return [ctx.fix(d, rationale, conf, [edit])]

"""Fix rules: from a Diagnosis, zero or more FixProposals, best first, each already through the guards.

`RULES` is the one registry: small functions `rule(diagnosis, ctx) -> list[FixProposal]`, each declaring
the diagnosis categories it handles with `@rule("sql.column_not_found", ...)` (adp.fixes.context). The
registry calls a rule only for those categories and names each proposal after the rule that made it
(`rule` and `id`); rules never spell their own name. Failures that need intent (data-test failures, a ref to a model that does not
exist, a missing env var, a join on the wrong key, duplicates, cycles, ragged CSVs) match no rule or
only produce a low-confidence `needs_review` suggestion: the loop escalates them.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable, Iterator

from adp.artifacts import Manifest
from adp.errors import FixError
from adp.fixes import actions, dbt_names, effects, guards, sql, templates, typos
from adp.fixes.confidence import MEANING_CHANGE_CAP
from adp.fixes.context import FixContext
from adp.models import Diagnosis, FixProposal, RunResult
from adp.project import DbtProject
from adp.proposals import proposal_id

log = logging.getLogger(__name__)

Rule = Callable[[Diagnosis, FixContext], "list[FixProposal]"]

RULES: tuple[Rule, ...] = (
    typos.column_typo,
    typos.function_typo,
    typos.type_typo,
    typos.macro_typo,
    dbt_names.package_macro_typo,
    dbt_names.var_typo,
    typos.test_name_typo,
    typos.ref_typo,
    dbt_names.ref_name_in_jinja,
    typos.source_typo,
    typos.materialization_typo,
    typos.profile_typo,
    typos.target_typo,
    typos.hardcoded_table,
    sql.ambiguous_column,
    sql.group_by_column,
    sql.missing_comma,
    sql.keyword_typo,
    sql.trailing_semicolon,
    sql.unbalanced_paren,
    sql.quote_date_part,
    sql.nullif_divisor,
    sql.wrong_alias,
    sql.try_cast_bad_value,
    templates.jinja_unclosed_expression,
    templates.jinja_missing_end_tag,
    templates.yaml_repair,
    actions.incremental_full_refresh,
    actions.seed_full_refresh,
)


def candidates(diagnosis: Diagnosis, ctx: FixContext) -> Iterator[tuple[Rule, FixProposal]]:
    """Every proposal of every rule that handles `diagnosis.category`, in registry order, before the guards.

    A rule that raises is logged and skipped: a broken rule must not stop the loop.
    """
    for rule in RULES:
        if diagnosis.category not in rule.categories:  # type: ignore[attr-defined]
            continue
        try:
            proposals = rule(diagnosis, ctx)
        except Exception:
            log.exception("fix rule %s failed on %s", rule.__name__, diagnosis.category)
            continue
        for p in proposals:
            yield rule, replace(p, rule=rule.__name__, id=proposal_id(rule.__name__, p.edits, p.action))


def propose(
    diagnosis: Diagnosis, project: DbtProject, result: RunResult | None = None, manifest: Manifest | None = None
) -> list[FixProposal]:
    """Every rule's proposals for `diagnosis` that pass the guards, highest confidence first.

    Rules read only the current project files, the artifacts under target/ and the warehouse
    (read-only); never git history or backups.
    """
    ctx = FixContext(project, result, manifest)
    found: dict[str, FixProposal] = {}
    for rule, p in candidates(diagnosis, ctx):
        try:
            guards.check(p, project, ctx.manifest)
        except FixError as exc:
            log.warning("rule %s proposal refused by the guards: %s", rule.__name__, exc)
            continue
        if effects.touches_test_code(ctx.manifest.data, {e.path for e in p.edits}):
            p = replace(p, confidence=min(p.confidence, MEANING_CHANGE_CAP), needs_review=True,
                        rationale=p.rationale + " (it edits a macro that tests run: a person decides)")
        found.setdefault(p.id, p)
    return sorted(found.values(), key=lambda p: (p.needs_review, -p.confidence))

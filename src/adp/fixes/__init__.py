"""Fix rules: from a Diagnosis, zero or more FixProposals, best first, each already through the guards.

`RULES` is the one registry: small functions `rule(diagnosis, ctx) -> list[FixProposal]`, each checking
the category it handles. Failures that need intent (data-test failures, a ref to a model that does not
exist, a missing env var, a join on the wrong key, duplicates, cycles, ragged CSVs) match no rule or
only produce a low-confidence `needs_review` suggestion: the loop escalates them.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from adp.artifacts import Manifest
from adp.errors import FixError
from adp.fixes import actions, effects, guards, sql, templates, typos
from adp.fixes.confidence import MEANING_CHANGE_CAP
from adp.fixes.context import FixContext
from adp.models import Diagnosis, FixProposal, RunResult
from adp.project import DbtProject

log = logging.getLogger(__name__)

RULES = (
    typos.column_typo,
    typos.function_typo,
    typos.type_typo,
    typos.macro_typo,
    typos.test_name_typo,
    typos.ref_typo,
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


def propose(
    diagnosis: Diagnosis, project: DbtProject, result: RunResult | None = None, manifest: Manifest | None = None
) -> list[FixProposal]:
    """Every rule's proposals for `diagnosis` that pass the guards, highest confidence first.

    Rules read only the current project files, the artifacts under target/ and the warehouse
    (read-only); never git history or backups.
    """
    ctx = FixContext(project, result, manifest)
    found: dict[str, FixProposal] = {}
    for rule in RULES:
        try:
            proposals = rule(diagnosis, ctx)
        except Exception:  # a broken rule must not stop the loop; the others still get their say
            log.exception("fix rule %s failed on %s", rule.__name__, diagnosis.category)
            continue
        for p in proposals:
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

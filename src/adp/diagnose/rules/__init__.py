"""The diagnosis rules: one ordered registry, `RULES`, of plain functions grouped by family.

| module | what its rules read |
|---|---|
| `environment` | the warehouse file or connection, profiles, targets, packages, variables |
| `parsing` | project parse errors: YAML, Jinja, refs/sources naming nothing, duplicates, cycles |
| `compilation` | dbt's node compile errors: macros, materializations, contracts, schema drift, seeds, snapshots |
| `warehouse` | warehouse errors, as the engine-neutral `SqlFact` its package parsed |
| `data_tests` | failed data tests and unit tests |

A rule is `rule(ctx, failure) -> Diagnosis | None`; one that declares fact kinds with `@rule(facts=...)`
is `rule(ctx, failure, fact)` and is called only for a fact of those kinds (`resources=` likewise limits it
to failed nodes of those resource types). The first rule that recognises a failure wins, so the order
of `RULES` matters where rules compete (a bare date part before a missing column, a tested column before
a column in SQL); `unknown` at the end always answers. Message text is untrusted: it is only matched,
never executed or used as a path outside the project.
"""
from __future__ import annotations

from typing import Callable

from adp.diagnose.context import Context, Failure
from adp.diagnose.rules import compilation, data_tests, environment, parsing, warehouse
from adp.diagnose.rules._base import node_id, rule
from adp.models import Diagnosis

Rule = Callable[..., "Diagnosis | None"]

__all__ = ["RULES", "Rule", "recognise", "rule", "unknown"]


@rule()
def unknown(ctx: Context, f: Failure) -> Diagnosis:
    """The last rule: no other rule recognised the failure.

    Message: anything, e.g. `Runtime Error  something no rule knows`
    Diagnosis: `unknown` with the message's first lines as evidence (the loop escalates it).
    """
    lines = [ln.strip() for ln in f.text.splitlines() if ln.strip()]
    return ctx.diagnosis(f, "unknown", "No rule recognised this failure; read the message.", evidence=lines[:3])


RULES: tuple[Rule, ...] = (
    environment.db_locked,
    environment.warehouse_unavailable,
    environment.profile_missing,
    environment.target_missing,
    environment.packages_missing,
    environment.variable_missing,
    parsing.yaml_syntax,
    parsing.jinja_syntax,
    parsing.ref_or_source_missing,
    parsing.duplicate_resource,
    parsing.cycle,
    compilation.undefined_macro,
    compilation.materialization_missing,
    compilation.contract,
    compilation.incremental_schema_change,
    compilation.seed_ragged,
    data_tests.unit_test_failure,
    warehouse.seed_schema_change,
    warehouse.unquoted_date_part,
    warehouse.column_in_test,
    warehouse.column_not_found,
    warehouse.ambiguous_column,
    warehouse.group_by,
    warehouse.unknown_function_or_type,
    warehouse.table_not_found,
    warehouse.alias_not_found,
    warehouse.syntax,
    warehouse.conversion,
    warehouse.division_by_zero,
    warehouse.file_missing,
    compilation.snapshot_config,
    data_tests.test_failure,
    unknown,
)


def recognise(ctx: Context, f: Failure) -> tuple[str, Diagnosis]:
    """The first rule of `RULES` that recognises `f`, by name, and its diagnosis."""
    fact = ctx.fact(f)
    resource = ctx.node(node_id(f)).get("resource_type")
    for r in RULES:
        facts, resources = r.facts, r.resources
        if resources is not None and resource not in resources:
            continue
        if facts is None:
            found = r(ctx, f)
        elif fact is not None and fact.kind in facts:
            found = r(ctx, f, fact)
        else:
            continue
        if found is not None:
            return r.__name__, found
    raise AssertionError("`unknown` answers every failure")  # pragma: no cover

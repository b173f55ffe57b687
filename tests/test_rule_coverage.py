"""Every diagnosis rule and every fix rule is hit by at least one case of the fault corpus (tests/faults).

The corpus runs from its recordings (no dbt): `diagnose(tracer=...)` reports which rule answered each
failure, and the fix registry names every proposal after the rule that made it, before the guards.
Rules the corpus cannot reach yet are listed in UNREACHED with the reason; the list may only shrink.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adp.diagnose import diagnose
from adp.diagnose import rules as diagnosis_rules
from adp.diagnose.taxonomy import CATEGORIES
from adp.fixes import RULES as FIX_RULES
from adp.fixes import candidates
from adp.fixes.context import FixContext
from adp.project import DbtProject

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
from corpus import cases, restore  # noqa: E402

# Today's order of evaluation: where two rules could both answer, the first wins.
DIAGNOSIS_ORDER = [
    "db_locked", "warehouse_unavailable", "profile_missing", "target_missing", "packages_missing", "variable_missing",
    "yaml_syntax", "jinja_syntax", "ref_or_source_missing", "duplicate_resource", "cycle", "undefined_macro",
    "materialization_missing", "contract", "incremental_schema_change", "seed_ragged", "unit_test_failure",
    "seed_schema_change", "unquoted_date_part", "column_in_test", "column_not_found", "ambiguous_column", "group_by",
    "unknown_function_or_type", "table_not_found", "alias_not_found", "syntax", "conversion", "division_by_zero",
    "file_missing", "snapshot_config", "test_failure", "unknown",
]

UNREACHED: dict[str, str] = {
    "warehouse_unavailable": "a dropped Spark Thrift connection: the Spark tier's fault (tests/test_spark.py), not this corpus",
    "snapshot_config": "no case yet breaks a snapshot's config (lib_snapshot_bad_key is a column, read from the warehouse)",
}


@pytest.fixture(scope="module")
def hits(tmp_path_factory) -> dict[str, dict[str, set[str]]]:
    """{"diagnosis"|"fix": {rule name: {case ids}}} over the whole corpus."""
    found: dict[str, dict[str, set[str]]] = {"diagnosis": {}, "fix": {}}
    for case in cases():
        dest = tmp_path_factory.mktemp(case.id) / case.project
        result = restore(case, dest)
        project = DbtProject.open(dest, dest)
        diagnoses = diagnose(result, project, tracer=lambda name, _d: found["diagnosis"].setdefault(name, set()).add(case.id))
        ctx = FixContext(project, result)
        for d in diagnoses:
            for rule, _proposal in candidates(d, ctx):
                found["fix"].setdefault(rule.__name__, set()).add(case.id)
    return found


def test_diagnosis_rules_keep_their_order():
    assert [r.__name__ for r in diagnosis_rules.RULES] == DIAGNOSIS_ORDER


def test_diagnosis_rules_document_a_message_and_a_diagnosis():
    for r in diagnosis_rules.RULES:
        doc = r.__doc__ or ""
        assert "Message:" in doc and "Diagnosis:" in doc, f"{r.__name__}: docstring needs a Message: and a Diagnosis: line"


def test_fix_rules_declare_known_categories():
    for r in FIX_RULES:
        assert r.categories and r.categories <= set(CATEGORIES), f"{r.__name__}: {sorted(r.categories)}"


@pytest.mark.parametrize("kind, registry", [("diagnosis", diagnosis_rules.RULES), ("fix", FIX_RULES)])
def test_every_rule_is_hit_by_a_corpus_case(hits, kind, registry):
    names = {r.__name__ for r in registry}
    missing = sorted(names - set(hits[kind]) - set(UNREACHED))
    assert not missing, f"{kind} rules no corpus case reaches: {missing}"
    stale = sorted(set(UNREACHED) & set(hits[kind]))
    assert not stale, f"now reached, take them off UNREACHED: {stale}"

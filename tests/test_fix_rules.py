"""Fix rules on real files in temp copies of the test projects: confidence from evidence, caps, escalation."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adp.fixes import propose
from adp.fixes.confidence import MEANING_CHANGE_CAP, closeness, distance, rank, score
from adp.models import Candidate, Diagnosis, RunResult
from adp.project import DbtProject

PROJECTS = Path(__file__).parent / "projects"
THRESHOLD = 0.8  # autonomous.min_confidence default


@pytest.fixture
def shop(tmp_path) -> DbtProject:
    dest = tmp_path / "shop"
    shutil.copytree(PROJECTS / "shop", dest, ignore=shutil.ignore_patterns("target", "*.duckdb", "logs"))
    return DbtProject.open(dest, dest)


def _edit(project: DbtProject, rel: str, old: str, new: str) -> None:
    path = project.project_dir / rel
    path.write_text(path.read_text().replace(old, new, 1))


def _applied(project: DbtProject, proposal) -> str:
    edit = proposal.edits[0]
    return (project.project_dir / edit.path).read_text().replace(edit.old, edit.new, 1)


def test_distance_and_closeness():
    assert distance("tabel", "table") == 1  # a transposition is one edit
    assert distance("uniq", "unique") == 2
    assert closeness("dim_customers", "stg_customers") == 0.0  # three edits: another name, not a typo
    assert closeness("email", "email_address") == 0.8  # a column renamed by extension


def test_two_equidistant_candidates_stay_below_threshold():
    best = rank("stat", ["state", "stats"])
    assert best is not None and best.margin == 0
    assert score(closeness=best.closeness, margin=best.margin, from_message=True) < THRESHOLD


def test_equidistant_column_candidates_from_the_message(shop):
    _edit(shop, "models/staging/stg_customers.sql", "    last_name,\n", "    name_a,\n")
    d = Diagnosis(
        category="sql.column_not_found", summary="", node="model.shop.stg_customers",
        file="models/staging/stg_customers.sql", line=4, identifier="name_a",
        candidates=[Candidate("name_b", 0.83, "message"), Candidate("name_c", 0.83, "message")],
    )
    proposals = propose(d, shop)
    assert proposals and all(p.confidence < THRESHOLD for p in proposals)


def test_clear_column_typo_is_confident_and_restores_the_file(shop):
    original = (shop.project_dir / "models/staging/stg_customers.sql").read_text()
    _edit(shop, "models/staging/stg_customers.sql", "    first_name,\n", "    frist_name,\n")
    d = Diagnosis(
        category="sql.column_not_found", summary="", node="model.shop.stg_customers",
        file="models/staging/stg_customers.sql", line=3, identifier="frist_name",
        candidates=[Candidate("first_name", 0.9, "message"), Candidate("last_name", 0.7, "message")],
        message='Binder Error: Referenced column "frist_name" not found in FROM clause!\n'
                'Candidate bindings: "first_name", "last_name", "signup_date", "customer_id"',
    )
    best = propose(d, shop)[0]
    assert best.rule == "column_typo" and best.confidence >= THRESHOLD and not best.needs_review
    assert _applied(shop, best) == original


def test_lookup_hint_scores_below_the_same_hint_from_the_message():
    assert score(closeness=0.9) < score(closeness=0.9, from_message=True)


def test_more_occurrences_lower_confidence():
    assert score(closeness=0.9, occurrences=3) < score(closeness=0.9, occurrences=1)


def test_ref_to_a_model_that_does_not_exist_is_escalated(shop):
    _edit(shop, "models/marts/customer_orders.sql", "ref('stg_orders')", "ref('dim_customers')")
    d = Diagnosis(category="dbt.ref_not_found", summary="", file="models/marts/customer_orders.sql",
                  identifier="dim_customers", phase="parse")
    assert propose(d, shop) == []


def test_division_by_zero_is_capped_below_threshold(shop):
    _edit(shop, "models/marts/orders_summary.sql", "    count(*) as order_count,\n",
          "    count(*) as order_count,\n    count(*) // (count(*) - count(*)) as ratio,\n")
    d = Diagnosis(category="sql.division_by_zero", summary="", node="model.shop.orders_summary",
                  file="models/marts/orders_summary.sql", line=11)
    (p,) = propose(d, shop)
    assert p.confidence <= MEANING_CHANGE_CAP < THRESHOLD and p.needs_review
    assert "count(*) // nullif((count(*) - count(*)), 0) as ratio" in _applied(shop, p)


def test_target_given_on_the_command_line_is_not_a_file_fix(shop):
    d = Diagnosis(category="env.target", summary="", identifier="prod", phase="parse",
                  candidates=[Candidate("dev", 0.3, "message")])
    result = RunResult(invocation_id=None, exit_code=2, phase="parse", command=["build", "--target", "prod"])
    assert propose(d, shop, result) == []


def test_switching_target_is_capped(shop):
    _edit(shop, "profiles.yml", "target: dev", "target: prod")
    d = Diagnosis(category="env.target", summary="", identifier="prod", phase="parse", file="profiles.yml",
                  candidates=[Candidate("dev", 0.3, "message")])
    assert propose(d, shop) == []  # `prod` -> `dev` is no spelling fix and no plausible candidate


@pytest.mark.parametrize("category", ["data.test_failure", "dbt.env_var_missing", "dbt.cycle",
                                      "dbt.duplicate_resource", "sql.conversion", "dbt.ref_disabled"])
def test_intent_failures_get_no_auto_fix(shop, category):
    d = Diagnosis(category=category, summary="", node="model.shop.stg_orders",
                  file="models/staging/stg_orders.sql", identifier="status")
    assert not [p for p in propose(d, shop) if p.confidence >= THRESHOLD and not p.needs_review]


def test_yaml_repair_validates_by_parsing(shop):
    original = (shop.project_dir / "models/staging/schema.yml").read_text()
    _edit(shop, "models/staging/schema.yml", "  - name: stg_products\n", "   - name: stg_products\n")
    d = Diagnosis(category="dbt.yaml_syntax", summary="", file="models/staging/schema.yml", phase="parse")
    best = propose(d, shop)[0]
    assert _applied(shop, best) == original


def test_stale_seed_gets_a_full_refresh_action(shop):
    d = Diagnosis(category="dbt.seed_schema_change", summary="", node="seed.shop.raw_customers",
                  file="seeds/raw_customers.csv")
    (p,) = propose(d, shop)
    assert p.action == {"full_refresh": "seed.shop.raw_customers"} and not p.edits and p.confidence >= THRESHOLD


def test_proposal_ids_are_stable(shop):
    _edit(shop, "models/marts/orders_summary.sql", "sum(orders.amount) as total_amount", "summ(orders.amount) as total_amount")
    d = Diagnosis(category="sql.function_not_found", summary="", file="models/marts/orders_summary.sql",
                  identifier="summ", candidates=[Candidate("sum", 0.86, "message")])
    assert [p.id for p in propose(d, shop)] == [p.id for p in propose(d, shop)]

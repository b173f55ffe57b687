"""Typo fixes judged by DuckDB's binder on a real built shop: only candidates that bind are proposed."""
from __future__ import annotations

import shutil

import pytest

from adp.artifacts import read_result
from adp.diagnose import diagnose
from adp.engine.subprocess import SubprocessEngine
from adp.fixes import propose
from adp.fixes.context import FixContext, apply_edit
from adp.models import Candidate, Diagnosis
from adp.project import DbtProject

pytestmark = pytest.mark.dbt

THRESHOLD = 0.8  # autonomous.min_confidence default
LOOP_MODEL = """{{ config(materialized='view') }}

select
    {%- for col in ['order', 'customer'] %}
    count(distinct {{ col }}_idd) as {{ col }}_count,
    {%- endfor %}
    count(*) as row_count
from {{ ref('stg_orders') }}
"""
# One fault per leaf model, so that one `dbt build` fails them all.
FAULTS = {
    "models/marts/orders_summary.sql": ("sum(orders.amount) as total", "sun(orders.amount) as total"),
    "models/marts/status_filter.sql": ("", 'select order_id from {{ ref(\'stg_orders\') }} where status != "state"\n'),
    "models/marts/order_metrics.sql": ("", LOOP_MODEL),
    "models/marts/named_amounts.sql": ("", "select order_id, amount as \"Net Amount\" from {{ ref('stg_orders') }}\n"),
    "models/marts/named_report.sql": ("", "select order_id, \"Net Amont\" * 2 as doubled from {{ ref('named_amounts') }}\n"),
    "models/marts/status_report.sql": ("", "select statu, count(*) as n from {{ ref('stg_orders') }} group by 1\n"),
}


@pytest.fixture(scope="module")
def faulted_shop(_warm_cache, tmp_path_factory):
    """A built shop with a typo in each of six leaf models, the failed build's RunResult and its diagnoses by node."""
    root = tmp_path_factory.mktemp("binder") / "shop"
    shutil.copytree(_warm_cache("shop"), root, ignore=shutil.ignore_patterns("*.adp.lock"))
    for rel, (old, new) in FAULTS.items():
        path = root / rel
        path.write_text(path.read_text().replace(old, new, 1) if old else new)
    project = DbtProject.open(root, root)
    names = " ".join(rel.rsplit("/", 1)[1][:-4] for rel in FAULTS)
    result = read_result(project, SubprocessEngine().invoke(project, ["build", "-s", *names.split()]))
    return project, result, {d.node: d for d in diagnose(result, project)}


def _proposals(faulted_shop, model: str, d: Diagnosis | None = None):
    project, result, diagnoses = faulted_shop
    return propose(d or diagnoses[f"model.shop.{model}"], project, result)


def _fixed(faulted_shop, proposal) -> str:
    project = faulted_shop[0]
    edit = proposal.edits[0]
    return apply_edit((project.project_dir / edit.path).read_text(), edit)


def test_a_candidate_that_does_not_bind_is_never_proposed(faulted_shop):
    d = faulted_shop[2]["model.shop.status_report"]
    decoy = Diagnosis(**{**d.__dict__, "candidates": [Candidate("statut", 0.95, "lookup"), *d.candidates]})
    found = _proposals(faulted_shop, "status_report", decoy)
    assert found and all("statut" not in e.new for p in found for e in p.edits)
    best = found[0]
    assert best.confidence >= THRESHOLD and "binder: 1 of 2 candidates bind" in best.rationale
    assert "select status, count(*)" in _fixed(faulted_shop, best)


def test_without_the_judge_the_tie_stays_below_the_threshold(faulted_shop, monkeypatch):
    monkeypatch.setattr(FixContext, "bind", lambda self, sqls: None)
    d = faulted_shop[2]["model.shop.status_report"]
    decoy = Diagnosis(**{**d.__dict__, "candidates": [Candidate("statut", 0.95, "lookup"), *d.candidates]})
    found = _proposals(faulted_shop, "status_report", decoy)
    assert found and found[0].confidence < THRESHOLD
    assert "binder skipped: the warehouse cannot judge now" in found[0].rationale


def test_the_engine_naming_a_candidate_is_not_cancelled_by_an_equally_close_one(faulted_shop):
    d = faulted_shop[2]["model.shop.orders_summary"]
    assert [c.source for c in d.candidates[:2]] == ["message", "lookup"]  # "sum" (DuckDB's hint), then "sin"
    best = _proposals(faulted_shop, "orders_summary")[0]
    assert best.confidence >= THRESHOLD and not best.needs_review
    assert "binder: 2 of 2 candidates bind" in best.rationale  # sin(x) binds too: the hint decides
    assert "    sum(orders.amount) as total_amount,\n" in _fixed(faulted_shop, best)


def test_a_name_built_in_a_jinja_loop_is_fixed_once_in_its_literal(faulted_shop):
    d = faulted_shop[2]["model.shop.order_metrics"]
    assert (d.file, d.line, d.details["compiled_line"]) == ("models/marts/order_metrics.sql", 5, 4)
    best = _proposals(faulted_shop, "order_metrics")[0]
    assert best.confidence >= THRESHOLD and "1 of 2 candidates bind" in best.rationale  # order_date: customer_date fails
    assert _fixed(faulted_shop, best) == LOOP_MODEL.replace("}}_idd", "}}_id")


def test_a_misspelled_quoted_identifier_is_renamed_inside_its_quotes(faulted_shop):
    best = _proposals(faulted_shop, "named_report")[0]
    assert best.confidence >= THRESHOLD
    assert '"Net Amount" * 2 as doubled' in _fixed(faulted_shop, best)


def test_a_double_quoted_string_that_binds_as_a_column_still_needs_a_person(faulted_shop):
    found = _proposals(faulted_shop, "status_filter")  # `"state"` -> status binds: `status != status`
    assert found and all(p.confidence < THRESHOLD for p in found)
    assert "binder: 1 of" in found[0].rationale

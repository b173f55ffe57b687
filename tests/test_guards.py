"""guards.check: weakening edits are refused, spelling corrections pass, paths stay inside the project."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from adp.errors import FixError
from adp.fixes import guards
from adp.fixes.context import FixContext
from adp.models import Edit, FixProposal
from adp.project import DbtProject

PROJECTS = Path(__file__).parent / "projects"


@pytest.fixture
def shop(tmp_path) -> DbtProject:
    dest = tmp_path / "shop"
    shutil.copytree(PROJECTS / "shop", dest, ignore=shutil.ignore_patterns("target", "*.duckdb", "logs"))
    return DbtProject.open(dest, dest)


def _proposal(project: DbtProject, path: str, old: str, new: str, **kw) -> FixProposal:
    ctx = FixContext(project)
    from adp.models import Diagnosis

    return ctx.proposal("test", Diagnosis(category="unknown", summary=""), "why", kw.pop("confidence", 0.9),
                        [Edit(path, old, new)], **kw)


SCHEMA = "models/staging/schema.yml"
MARTS = "models/marts/schema.yml"

REFUSED = [
    (SCHEMA, "          - unique\n          - not_null\n      - name: customer_id",
     "          - not_null\n      - name: customer_id", "removes"),  # drop a test entry
    (SCHEMA, "      - name: amount\n        data_tests:\n          - not_null\n",
     "      - name: amount\n", "removes"),  # drop a column's tests
    (MARTS, "          - unique\n          - not_null\n  - name: customer_orders",
     "          - unique:\n              config:\n                severity: warn\n          - not_null\n  - name: customer_orders",
     "severity"),
    (MARTS, "      - name: lifetime_value\n        data_tests:\n          - not_null",
     "      - name: lifetime_value\n        data_tests:\n          - not_null:\n              config:\n                where: \"lifetime_value > 0\"",
     "where"),
    (MARTS, "          - not_null\n  - name: customer_orders",
     "          - not_null:\n              config:\n                limit: 1\n  - name: customer_orders", "limit"),
    (MARTS, "          - not_null\n  - name: customer_orders",
     "          - not_null:\n              config:\n                warn_if: \">10\"\n  - name: customer_orders", "warn_if"),
    (MARTS, "  - name: orders_summary\n", "  - name: orders_summary\n    config:\n      enabled: false\n", "enabled"),
    (SCHEMA, "values: ['placed', 'shipped', 'completed', 'returned']",
     "values: ['placed', 'shipped', 'completed', 'returned', 'lost']", "changes the test"),
    (SCHEMA, "to: ref('stg_customers')", "to: ref('stg_orders')", "changes the test"),
    (SCHEMA, "      - name: order_id\n        data_tests:\n          - unique",
     "      - name: product_id\n        data_tests:\n          - unique", "changes the test"),  # another column
    (MARTS, "          - unique\n          - not_null\n  - name: customer_orders",
     "          - not_null\n          - not_null\n  - name: customer_orders", "changes the test"),  # swap test
    ("tests/assert_paid_not_above_value.sql", "select", "select 1 as x where false and", "test-paths"),
    ("seeds/raw_orders.csv", "order_id", "order_id", "data file"),
    ("data/raw_payments.csv", "payment_id", "payment_id", "data file"),
    ("models/staging/stg_orders.sql", "from source", "from source\nlimit 0", "every row"),
    ("models/staging/stg_orders.sql", "with source", "{{ config(enabled=false) }}\nwith source", "disables"),
    ("dbt_project.yml", 'test-paths: ["tests"]', 'test-paths: ["nowhere"]', "test-paths"),
    ("dbt_project.yml", "models:\n  shop:\n", "data_tests:\n  +severity: warn\nmodels:\n  shop:\n", "severity"),
]


@pytest.mark.parametrize("path,old,new,reason", REFUSED, ids=[f"{i}-{r[3]}" for i, r in enumerate(REFUSED)])
def test_weakening_edits_are_refused(shop, path, old, new, reason):
    p = _proposal(shop, path, old, new)
    with pytest.raises(FixError, match=reason):
        guards.check(p, shop)


def test_emptying_a_model_is_refused(shop):
    text = (shop.project_dir / "models/staging/stg_products.sql").read_text()
    with pytest.raises(FixError, match="empties"):
        guards.check(_proposal(shop, "models/staging/stg_products.sql", text, ""), shop)


ALLOWED = [
    (MARTS, "      - name: lifetime_value\n", "      - name: lifetime_valu\n"),  # tested column typo
    (MARTS, "          - unique\n          - not_null\n  - name: customer_orders",
     "          - uniq\n          - not_null\n  - name: customer_orders"),  # generic test name typo
    (SCHEMA, "field: customer_id", "field: customer_idd"),  # relationships field typo
    (SCHEMA, "to: ref('stg_customers')", "to: ref('stg_customer')"),  # relationships target typo
]


@pytest.mark.parametrize("path,good,typo", ALLOWED)
def test_spelling_corrections_of_tests_pass(shop, path, good, typo):
    """Break the file with the typo first, then the correcting proposal must pass."""
    file = shop.project_dir / path
    file.write_text(file.read_text().replace(good, typo, 1))
    guards.check(_proposal(shop, path, typo, good), shop)


def test_model_edits_and_yaml_reindent_pass(shop):
    guards.check(_proposal(shop, "models/staging/stg_customers.sql", "first_name,\n", "first_name,\n    1 as one,\n"), shop)
    file = shop.project_dir / SCHEMA
    file.write_text(file.read_text().replace("  - name: stg_customers\n", "    - name: stg_customers\n"))
    guards.check(_proposal(shop, SCHEMA, "    - name: stg_customers\n", "  - name: stg_customers\n"), shop)


def test_broken_yaml_allows_only_layout_repairs(shop):
    file = shop.project_dir / SCHEMA
    file.write_text(file.read_text().replace("  - name: stg_customers\n", "    - name: stg_customers\n"))
    with pytest.raises(FixError, match="only whitespace"):
        guards.check(_proposal(shop, SCHEMA, "    - name: stg_customers\n    columns:\n      - name: customer_id\n        data_tests:\n          - unique\n",
                               "  - name: stg_customers\n    columns:\n      - name: customer_id\n        data_tests:\n"), shop)


@pytest.mark.parametrize("path", ["../outside.sql", "/etc/passwd", "models/../../outside.sql"])
def test_paths_outside_the_project_are_refused(shop, path):
    p = FixProposal(id="x", rule="r", diagnosis_category="c", rationale="", confidence=0.9,
                    edits=[Edit(path, "a", "b")], file_sha256={path: "0" * 64})
    with pytest.raises(FixError, match="inside|outside"):
        guards.check(p, shop)


def test_symlink_escape_is_refused(shop, tmp_path):
    outside = tmp_path / "secret.sql"
    outside.write_text("select 1\n")
    os.symlink(outside, shop.project_dir / "models" / "link.sql")
    p = _proposal(shop, "models/link.sql", "select 1", "select 2")
    with pytest.raises(FixError, match="is a symlink"):
        guards.check(p, shop)


def test_stale_and_non_unique_edits_are_refused(shop):
    rel = "models/staging/stg_orders.sql"
    p = _proposal(shop, rel, "lower(status) as status,", "lower(status) as status,\n    1 as one,")
    (shop.project_dir / rel).write_text((shop.project_dir / rel).read_text() + "\n-- edited meanwhile\n")
    with pytest.raises(FixError, match="changed since"):
        guards.check(p, shop)
    with pytest.raises(FixError, match="2 times|0 times"):
        guards.check(_proposal(shop, rel, "cast(", "try_cast("), shop)


def test_actions_are_checked(shop):
    p = FixProposal(id="x", rule="r", diagnosis_category="c", rationale="", confidence=0.9, action={"drop_table": "model.shop.x"})
    with pytest.raises(FixError, match="unknown action"):
        guards.check(p, shop)
    guards.check(FixProposal(id="y", rule="r", diagnosis_category="c", rationale="", confidence=0.5,
                             action={"full_refresh": "seed.shop.raw_orders"}), shop)

"""The SQL fix rules judged by a real DuckDB binder: a tiny warehouse file and a dbt project dir in tmp_path.

Each test writes one model (its file, with Jinja, and its compiled SQL in the manifest), hands a
diagnosis to one rule and checks what the rule proposes against the warehouse file (read-only DESCRIBE).
"""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from adp.fixes import sql
from adp.fixes.context import FixContext, apply_edit
from adp.models import Diagnosis
from adp.project import DbtProject
from adp.warehouses import facts as F
from adp.warehouses.facts import SqlFact

PROJECT_YML = "name: tiny\nversion: '1.0.0'\nconfig-version: 2\nprofile: tiny\n"
PROFILES_YML = "tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: tiny.duckdb\n"
TABLES = (
    "create table customers (customer_id int, customer_name varchar, tier varchar, region varchar)",
    "create table orders (order_id int, customer_id int, amount double, status varchar)",
    "create table segments (segment_id int, tier varchar, region varchar)",
)


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A dbt project dir with a DuckDB file holding `customers`, `orders` and `segments` (no rows)."""
    (tmp_path / "dbt_project.yml").write_text(PROJECT_YML)
    (tmp_path / "profiles.yml").write_text(PROFILES_YML)
    (tmp_path / "models").mkdir()
    (tmp_path / "target").mkdir()
    with duckdb.connect(str(tmp_path / "tiny.duckdb")) as con:
        for ddl in TABLES:
            con.execute(ddl)
    return tmp_path


def _model(root: Path, name: str, source: str, others: dict[str, str] | None = None) -> FixContext:
    """Write models/<name>.sql; its compiled SQL (refs rendered) and the `others` go into the manifest."""
    (root / "models" / f"{name}.sql").write_text(source)
    nodes = {}
    for model, text in {name: source, **(others or {})}.items():
        compiled = _rendered(text).removesuffix("\n")  # Jinja drops a template's last newline
        nodes[f"model.tiny.{model}"] = {"resource_type": "model", "compiled_code": compiled, "raw_code": text,
                                        "original_file_path": f"models/{model}.sql"}
    (root / "target" / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    return FixContext(DbtProject.open(root, root))


def _diagnosis(name: str, category: str, identifier: str, kind: str, hints: tuple[str, ...] = ()) -> Diagnosis:
    return Diagnosis(category=category, summary="", node=f"model.tiny.{name}", root_cause_node=f"model.tiny.{name}",
                     file=f"models/{name}.sql", identifier=identifier, fact=SqlFact(kind, identifier, hints=hints))


def _fixed(ctx: FixContext, name: str, proposal) -> str:
    text = ctx.read(f"models/{name}.sql")
    for edit in proposal.edits:
        text = apply_edit(text, edit)
    return text


def _rendered(text: str) -> str:
    return text.replace("{{ ref('customers') }}", "customers").replace("{{ ref('orders') }}", "orders")


def _binds(root: Path, text: str) -> bool:
    with duckdb.connect(str(root / "tiny.duckdb"), read_only=True) as con:
        try:
            con.execute("describe " + _rendered(text))
        except duckdb.Error:
            return False
    return True


def test_a_candidate_that_does_not_bind_is_never_proposed(tiny):
    """`x.status` with no `x`: both tables are candidates by name alone; only `orders` has `status`."""
    source = "select x.status, count(*) as n\nfrom {{ ref('customers') }} as customers\njoin {{ ref('orders') }} as orders\n    on customers.customer_id = orders.customer_id\ngroup by 1\n"
    ctx = _model(tiny, "m", source)
    d = _diagnosis("m", "sql.alias_not_found", "x", F.ALIAS_NOT_FOUND, ("customers", "orders"))
    proposals = sql.wrong_alias(d, ctx)
    assert len(proposals) == 1 and not proposals[0].needs_review
    assert "orders.status" in _fixed(ctx, "m", proposals[0]) and "binder: 1 of 2" in proposals[0].rationale
    assert proposals[0].confidence >= 0.8


def test_a_repair_that_does_not_bind_is_not_proposed(tiny):
    """`entropy` is an aggregate the reader does not know: grouping by it cannot bind, nothing is proposed."""
    source = "select region, tier, entropy(tier) as e\nfrom {{ ref('customers') }}\ngroup by region\n"
    ctx = _model(tiny, "m", source)
    assert sql.group_by_column(_diagnosis("m", "sql.group_by", "tier", F.GROUP_BY), ctx) == []


@pytest.mark.parametrize(("source", "grouped"), [
    ("select region, tier, customer_name, count(*) as n\nfrom {{ ref('customers') }}\ngroup by 1, 2\n", "group by 1, 2, 3\n"),
    ("select region, tier, customer_name, count(*) as n\nfrom {{ ref('customers') }}\ngroup by\n    region,\n    tier\norder by 1\n",
     "group by\n    region,\n    tier, customer_name\norder by 1\n"),
    ("select region, tier, customer_name, count(*) as n\nfrom {{ ref('customers') }}\ngroup by region, tier -- keys\n",
     "group by region, tier, customer_name -- keys\n"),
], ids=["positional", "named_multiline", "named_comment"])
def test_group_by_gets_the_missing_items_appended(tiny, source, grouped):
    ctx = _model(tiny, "m", source)
    proposals = sql.group_by_column(_diagnosis("m", "sql.group_by", "customer_name", F.GROUP_BY), ctx)
    assert len(proposals) == 1 and proposals[0].confidence >= 0.8, proposals
    fixed = _fixed(ctx, "m", proposals[0])
    assert fixed.endswith(grouped) and _binds(tiny, fixed)
    assert "binder: 1 of 1 candidate(s) bind" in proposals[0].rationale


@pytest.mark.parametrize(("others", "clause"), [
    ({}, "group by region, tier\n"),
    ({"o1": "select status, count(*) from orders group by 1", "o2": "select 1, 2, count(*) from orders group by 1, 2"}, "group by 1, 2\n"),
    ({"o1": "select status, count(*) from orders group by all"}, "group by all\n"),
], ids=["names_by_default", "positions_like_the_project", "all_like_the_project"])
def test_a_missing_group_by_is_added_in_the_projects_style(tiny, others, clause):
    source = "select region, tier, count(*) as n\nfrom {{ ref('customers') }}\n"
    ctx = _model(tiny, "m", source, others)
    proposals = sql.group_by_column(_diagnosis("m", "sql.group_by", "region", F.GROUP_BY), ctx)
    assert len(proposals) == 1, proposals
    fixed = _fixed(ctx, "m", proposals[0])
    assert fixed == source + clause and _binds(tiny, fixed)


def test_a_missing_group_by_goes_before_order_by_and_limit(tiny):
    source = "select region, count(*) as n\nfrom {{ ref('customers') }}\nwhere tier <> 'x'\norder by n desc\nlimit 3\n"
    ctx = _model(tiny, "m", source)
    proposals = sql.group_by_column(_diagnosis("m", "sql.group_by", "region", F.GROUP_BY), ctx)
    fixed = _fixed(ctx, "m", proposals[0])
    assert "where tier <> 'x'\ngroup by region\norder by n desc\n" in fixed and _binds(tiny, fixed)


def test_group_by_all_is_never_edited(tiny):
    source = "select region, count(*) as n\nfrom {{ ref('customers') }}\ngroup by all\n"
    ctx = _model(tiny, "m", source)
    assert sql.group_by_column(_diagnosis("m", "sql.group_by", "region", F.GROUP_BY), ctx) == []


AMBIGUOUS = """with c as (
    select * from {{ ref('customers') }}
)
select
    customer_id,
    c.customer_name,
    count(o.order_id) as orders
from c
%s {{ ref('orders') }} as o on c.customer_id = o.customer_id
group by customer_id, c.customer_name
"""


def test_the_same_ambiguous_column_twice_is_qualified_everywhere(tiny):
    ctx = _model(tiny, "m", AMBIGUOUS % "left join")
    d = _diagnosis("m", "sql.ambiguous_column", "customer_id", F.AMBIGUOUS_COLUMN, ("c.customer_id", "o.customer_id"))
    proposals = sql.ambiguous_column(d, ctx)
    assert len(proposals) == 1 and proposals[0].confidence >= 0.8
    fixed = _fixed(ctx, "m", proposals[0])
    assert "    c.customer_id,\n" in fixed and "group by c.customer_id, c.customer_name" in fixed and _binds(tiny, fixed)
    assert "preserved side of the left join" in proposals[0].rationale


@pytest.mark.parametrize(("join", "kept"), [("right join", "o"), ("join", "c")])
def test_the_kept_side_follows_the_join(tiny, join, kept):
    """Right join: the joined side; inner join on that column: both sides are equal, the FROM side."""
    ctx = _model(tiny, "m", AMBIGUOUS % join)
    d = _diagnosis("m", "sql.ambiguous_column", "customer_id", F.AMBIGUOUS_COLUMN, ("c.customer_id", "o.customer_id"))
    proposals = sql.ambiguous_column(d, ctx)
    assert len(proposals) == 1 and proposals[0].confidence >= 0.8 and not proposals[0].needs_review
    assert f"    {kept}.customer_id,\n" in _fixed(ctx, "m", proposals[0])


def test_a_full_join_escalates(tiny):
    ctx = _model(tiny, "m", AMBIGUOUS % "full join")
    d = _diagnosis("m", "sql.ambiguous_column", "customer_id", F.AMBIGUOUS_COLUMN, ("c.customer_id", "o.customer_id"))
    assert sql.ambiguous_column(d, ctx) == []


def test_two_sides_that_both_bind_and_differ_need_review(tiny):
    """A cross join gives no preserved side and no equality: both qualifications bind, a person chooses."""
    source = "select tier, count(*) as n\nfrom {{ ref('customers') }} as c\ncross join segments as s\ngroup by 1\n"
    ctx = _model(tiny, "m", source)
    d = _diagnosis("m", "sql.ambiguous_column", "tier", F.AMBIGUOUS_COLUMN, ("c.tier", "s.tier"))
    proposals = sql.ambiguous_column(d, ctx)
    assert len(proposals) == 1 and proposals[0].needs_review and proposals[0].confidence < 0.8
    assert "`c` is one side" in proposals[0].rationale and "`s` is one side" in proposals[0].rationale


def test_without_a_warehouse_the_judge_is_skipped_and_says_so(tiny):
    (tiny / "tiny.duckdb").unlink()
    ctx = _model(tiny, "m", AMBIGUOUS % "left join")
    d = _diagnosis("m", "sql.ambiguous_column", "customer_id", F.AMBIGUOUS_COLUMN, ("c.customer_id", "o.customer_id"))
    proposals = sql.ambiguous_column(d, ctx)
    assert len(proposals) == 1 and "binder skipped" in proposals[0].rationale

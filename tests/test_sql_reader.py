"""The one reader of compiled SQL (adp.diagnose.sql_columns) on the shapes dbt projects compile to."""
from __future__ import annotations

import pytest

from adp.diagnose import sql_columns as reader
from adp.fixes import group_by

CHAIN = '''with orders as (
    select * from "db"."main"."stg_orders"
),

paid as (
    select order_id, sum(amount) as paid_amount
    from "db"."main"."stg_payments"
    group by 1
)

select
    o.customer_id,
    lower(o.status) as status,
    count(*) as n,
    sum(p.paid_amount) over (partition by o.customer_id) as running,
    date_diff('day', o.ordered_at, max(p.paid_at)) as days
from orders as o
left join paid p on o.order_id = p.order_id
group by o.customer_id,
    lower(o.status)
order by 1
'''


def test_every_select_cte_bodies_first_then_the_final_one():
    found = reader.selects(CHAIN)
    assert len(found) == 3
    assert [r.relation for r in found[0].relations] == ['"db"."main"."stg_orders"']
    assert set(reader.ctes(CHAIN)) == {"orders", "paid"}
    assert "SUM(amount)" in reader.ctes(CHAIN)["paid"]


def test_final_select_items_names_aggregation_and_spans():
    final = reader.selects(CHAIN)[-1]
    assert [(i.name, i.aggregated) for i in final.items] == [
        ("customer_id", False), ("status", False), ("n", True), ("running", False), ("days", True)]
    assert [CHAIN[slice(*i.span)] for i in final.items][:2] == ["o.customer_id", "lower(o.status)"]
    assert [r.name for r in final.items[4].columns] == ["ordered_at"]  # outside the aggregate only
    assert {r.name for r in final.items[3].columns} == {"paid_amount", "customer_id"}  # a window is no aggregate


def test_relations_aliases_join_kinds_and_equated_columns():
    final = reader.selects(CHAIN)[-1]
    assert [(r.alias, r.relation, r.join) for r in final.relations] == [("o", "orders", "from"), ("p", "paid", "left")]
    assert final.relations[1].equated == {"o.order_id"}
    sql = "select 1 from a join b using (k) right join c on c.k = b.k full outer join d on true cross join e natural join f"
    assert [r.join for r in reader.selects(sql)[0].relations] == ["from", "inner", "right", "full", "cross", "natural"]


@pytest.mark.parametrize(("sql", "all_", "positions", "names"), [
    ("select a, b, count(*) from t group by 1, 2", False, (1, 2), ()),
    ("select a, count(*) from t group by all", True, (), ()),
    ("select a, b, count(*) from t group by a, 2", False, (2,), ("a",)),
    ("SELECT A, COUNT(*) FROM T GROUP BY\n  A\n  ORDER BY 1", False, (), ("A",)),
])
def test_group_by_positions_all_and_names(sql, all_, positions, names):
    g = reader.selects(sql)[-1].group
    assert (g.all, g.positions, g.names) == (all_, positions, names)
    assert sql[: g.end].rstrip().endswith(("2", "all", "A"))


def test_the_group_by_end_and_the_clause_point_span_lines():
    final = reader.selects(CHAIN)[-1]
    assert CHAIN[: final.group.end].endswith("group by o.customer_id,\n    lower(o.status)")
    sql = "select a, count(*) as n\nfrom t\nwhere a > 0\norder by n\nlimit 3"
    s = reader.selects(sql)[0]
    assert s.group is None and s.clause_before and sql[s.clause_at:].startswith("order by")
    s = reader.selects("with x as (\n  select a, count(*) from t where a > 0\n)\nselect * from x")[0]
    assert not s.clause_before


def test_ungrouped_items_and_columns():
    sql = "select region, tier, upper(name) as n, sum(x) + max(tier_rank) as s, count(*) from t group by region, 2"
    assert [(k, i.name, [r.name for r in refs]) for k, i, refs in reader.selects(sql)[0].ungrouped()] == [(3, "n", ["name"])]


@pytest.mark.parametrize(("sql", "style", "fixed"), [
    ("select a, b, c, count(*) from t group by 1, 3", "positions", "select a, b, c, count(*) from t group by 1, 2, 3"),
    ("select a, b, c, count(*) from t group by 2, 1 -- k", "positions", "select a, b, c, count(*) from t group by 2, 1, 3 -- k"),
    ("select a, lower(b), count(*) from t group by a", "names", "select a, lower(b), count(*) from t group by a, lower(b)"),
    # a named GROUP BY takes a missing item where the select list has it, the layout between items kept
    ("select c.id, c.name, count(*), min(c.day) from c group by c.id,\n    c.day", "names",
     "select c.id, c.name, count(*), min(c.day) from c group by c.id, c.name,\n    c.day"),
    ("select b, a, count(*) from t group by a", "names", "select b, a, count(*) from t group by b, a"),
    ("select lower(a) as la, b, c, count(*) from t group by lower(a), c", "names",
     "select lower(a) as la, b, c, count(*) from t group by lower(a), b, c"),
    ("select a, b, count(*)\nfrom t\norder by 1", "positions", "select a, b, count(*)\nfrom t\ngroup by 1, 2\norder by 1"),
    ("with x as (\n    select a, count(*)\n    from t\n)\nselect * from x", "all", "with x as (\n    select a, count(*)\n    from t\n    group by all\n)\nselect * from x"),
])
def test_group_edit_in_each_shape(sql, style, fixed):
    s = reader.selects(sql)[0]
    start, end, text = group_by.edit(s, sql, group_by.missing(s, sql, style))
    assert sql[:start] + text + sql[end:] == fixed


def test_column_references_with_qualifiers_and_positions():
    sql = 'select "Order Id", o.amount from t as o where o.k in (select k from u)'
    s = reader.selects(sql)[-1]
    assert [(r.qualifier, r.name, sql[r.start:r.end]) for r in s.refs] == [
        (None, "Order Id", '"Order Id"'), ("o", "amount", "o.amount"), ("o", "k", "o.k")]  # not the subquery's `k`
    assert [r.name for r in s.unqualified("order id")] == ["Order Id"]


def test_spark_sql_with_backticks():
    sql = "select `c`.`customer_id`, count(*) as n from `shop`.`customers` as c group by 1"
    s = reader.selects(sql, "spark")[0]
    assert s.relations[0].relation == "`shop`.`customers`" and s.group.positions == (1,)
    assert reader.from_relations(sql, "spark") == {"c": "`shop`.`customers`", "customers": "`shop`.`customers`"}


@pytest.mark.parametrize("broken", [
    "select a b c from",
    "select a, sum(b from t",
    "with x as (select 1 select * from x",
    "select {{ ref('x') }} from {% if true %}",
    "",
])
def test_broken_sql_reads_as_nothing(broken):
    assert reader.selects(broken) == ()
    assert (reader.ctes(broken), reader.select_items(broken), reader.from_relations(broken)) == ({}, [], {})


def test_the_diagnosis_questions_keep_their_shapes():
    sql = ('with orders as (\n select * from "db"."main"."o"\n), x as (select 1 as k)\n'
           'select orders.status, count(*) as n, cast(a as int) as a2, p.*, cast(b as int) from orders '
           'left join "db"."main"."p" as p on 1=1')
    assert [reader.output_name(i) for i in reader.select_items(sql)] == ["status", "n", "a2", "*", None]
    assert reader.from_relations(sql) == {"orders": "orders", "p": '"db"."main"."p"'}


def test_tokens_answer_paren_balance_and_operands():
    assert reader.paren_balance("cast(amount as decimal(10, 2) as amount -- ')'") == 1
    assert reader.paren_balance("'unterminated") is None
    text = "a // coalesce(sum(x), 1) as y"
    assert text[: reader.operand_end(text, 4)] == "a // coalesce(sum(x), 1)"
    assert reader.same_query("select A from t", "SELECT a\nFROM t") and not reader.same_query("select a from t", "select b from t")


def test_one_set_of_date_parts():
    assert {"day", "quarter", "dow", "doy", "epoch", "isodow"} <= reader.DATE_PARTS


def test_sql_without_jinja_for_the_parser():
    assert reader.without_jinja("select {{ x }} from {{ ref('t') }} {# c #}") == "select __jinja__ from __jinja__ "
    assert reader.without_jinja("{% if a %}select 1{% endif %}") is None

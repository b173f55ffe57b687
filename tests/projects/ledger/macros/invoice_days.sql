{#- Days from one date to another (payment terms, lateness). -#}
{% macro days_until_due(issued_col, due_col) -%}
    date_diff('day', {{ issued_col }}, {{ due_col }})
{%- endmacro %}

{#- Days an invoice is late: to its payment date, or to the as-of date while unpaid; never negative. -#}
{% macro days_past_due(due_col, paid_col) -%}
    greatest(date_diff('day', {{ due_col }}, coalesce({{ paid_col }}, date '{{ var("ledger_as_of_date") }}')), 0)
{%- endmacro %}

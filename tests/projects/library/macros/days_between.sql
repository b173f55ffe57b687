{% macro days_between(start_col, end_col) -%}
    date_diff('day', {{ start_col }}, coalesce({{ end_col }}, date '2024-04-01'))
{%- endmacro %}

{#- Whole calendar months between two dates, counting a started month; no date spine needed. -#}
{% macro months_between(start_date, end_date) -%}
    (date_diff('month', {{ start_date }}, {{ end_date }}) + 1)
{%- endmacro %}

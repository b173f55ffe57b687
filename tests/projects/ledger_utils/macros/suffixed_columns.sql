{#- The list `fields` with a suffix on each name: ['gross', 'tax'] -> ['gross_amount', 'tax_amount']. -#}
{% macro suffixed_columns(fields, suffix) -%}
    {%- set columns = [] -%}
    {%- for field in fields -%}
        {%- do columns.append(field ~ suffix) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#- One `sum(<col>) as <col><alias_suffix>` per column, comma separated. -#}
{% macro sum_columns(columns, alias_suffix='') -%}
    {%- for col in columns %}
    sum({{ col }}) as {{ col }}{{ alias_suffix }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

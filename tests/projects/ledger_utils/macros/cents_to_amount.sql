{#- Integer minor units (cents) to a decimal amount in major units. -#}
{% macro cents_to_amount(column_name, precision=2) -%}
    round(cast({{ column_name }} as decimal(18, 4)) / 100, {{ precision }})
{%- endmacro %}

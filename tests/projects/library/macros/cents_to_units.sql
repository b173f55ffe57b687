{% macro cents_to_units(column, scale=100) -%}
    cast({{ column }} as double) / {{ scale }}
{%- endmacro %}

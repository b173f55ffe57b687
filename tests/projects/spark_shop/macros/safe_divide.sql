{% macro safe_divide(numerator, denominator, precision=2) -%}
    round(({{ numerator }}) / nullif({{ denominator }}, 0), {{ precision }})
{%- endmacro %}

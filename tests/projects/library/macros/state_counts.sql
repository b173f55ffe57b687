{% macro state_counts(column, states) -%}
    {%- for state in states %}
    sum(case when {{ column }} = '{{ state }}' then 1 else 0 end) as {{ state }}_loans{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

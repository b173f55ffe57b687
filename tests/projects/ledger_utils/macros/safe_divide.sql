{#- A ratio that is null instead of an error when the denominator is zero or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    case
        when coalesce({{ denominator }}, 0) = 0 then null
        else cast({{ numerator }} as double) / {{ denominator }}
    end
{%- endmacro %}

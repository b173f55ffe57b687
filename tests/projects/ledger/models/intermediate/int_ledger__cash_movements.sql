{%- set movement_sources = {
    'payment': {'model': 'stg_ledger__payment', 'key': 'payment_id', 'booked_on': 'paid_on', 'amount': 'paid_amount'},
    'credit': {'model': 'stg_ledger__credit_note', 'key': 'credit_note_id', 'booked_on': 'credited_on', 'amount': 'credited_amount'}
} -%}

with
{% for kind in var('ledger_movement_kinds') %}
{%- set src = movement_sources[kind] %}
{{ kind }}_movements as (

    select
        '{{ kind }}' as movement_kind,
        {{ src.key }} as movement_key,
        invoice_id,
        {{ src.booked_on }} as movement_on,
        {{ src.amount }} as movement_amount
    from {{ ref(src.model) }}

),
{% endfor %}

unioned as (

    {% for kind in var('ledger_movement_kinds') %}
    select * from {{ kind }}_movements
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select *
from unioned

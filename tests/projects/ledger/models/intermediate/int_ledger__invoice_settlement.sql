with movements as (

    select *
    from {{ ref('int_ledger__cash_movements') }}

),

settled as (

    select
        invoice_id,
        {% for kind in var('ledger_movement_kinds') %}
        sum(case when movement_kind = '{{ kind }}' then movement_amount else 0 end) as {{ kind }}_received,
        {% endfor %}
        max(case when movement_kind = 'payment' then movement_on end) as last_paid_on,
        count(*) as movement_count
    from movements
    group by 1

)

select *
from settled

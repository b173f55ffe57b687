with base as (

    select *
    from {{ ref('ledger_plan') }}

),

final as (

    select
        cast(id as integer) as plan_id,
        name as plan_name,
        lower(cadence) as billing_cadence,
        {{ ledger_utils.cents_to_amount('unit_price_cents') }} as unit_price,
        upper(currency) as currency_code
    from base

)

select *
from final

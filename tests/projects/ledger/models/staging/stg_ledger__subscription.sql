with base as (

    select *
    from {{ ref('ledger_subscription') }}

),

final as (

    select
        cast(id as integer) as subscription_id,
        cast(account_id as integer) as account_id,
        cast(plan_id as integer) as plan_id,
        began_at as started_on,
        ended_at as ended_on,
        seat_count,
        ended_at is null as is_current
    from base

)

select *
from final

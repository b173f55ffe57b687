{%- set as_of = "date '" ~ var('ledger_as_of_date') ~ "'" %}

with subscriptions as (

    select *
    from {{ ref('stg_ledger__subscription') }}

),

plans as (

    select *
    from {{ ref('stg_ledger__plan') }}

),

spans as (

    select
        subscriptions.subscription_id,
        subscriptions.account_id,
        subscriptions.plan_id,
        plans.plan_name,
        plans.billing_cadence,
        subscriptions.seat_count,
        subscriptions.started_on,
        least(coalesce(subscriptions.ended_on, {{ as_of }}), {{ as_of }}) as span_end_on,
        subscriptions.is_current
    from subscriptions
    inner join plans
        on subscriptions.plan_id = plans.plan_id

),

final as (

    select
        *,
        {{ ledger_utils.months_between('started_on', 'span_end_on') }} as active_months
    from spans

)

select *
from final

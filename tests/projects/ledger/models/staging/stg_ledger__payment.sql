with base as (

    select *
    from {{ ref('ledger_payment') }}

),

final as (

    select
        cast(id as integer) as payment_id,
        cast(invoice_id as integer) as invoice_id,
        cast(paid_at as date) as paid_on,
        {{ ledger_utils.cents_to_amount('amount_cents') }} as paid_amount,
        lower(method) as payment_method
    from base

)

select *
from final

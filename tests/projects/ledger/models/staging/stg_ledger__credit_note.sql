with base as (

    select *
    from {{ ref('ledger_credit_note') }}

),

final as (

    select
        cast(id as integer) as credit_note_id,
        cast(invoice_id as integer) as invoice_id,
        cast(issued_at as date) as credited_on,
        {{ ledger_utils.cents_to_amount('amount_cents') }} as credited_amount,
        reason as credit_reason
    from base

)

select *
from final

{{ config(materialized='view') }}

with base as (

    select *
    from {{ ref('ledger_invoice') }}

),

final as (

    select
        cast(id as integer) as invoice_id,
        cast(subscription_id as integer) as subscription_id,
        issued_at as issued_on,
        due_at as due_on,
        lower(status) as invoice_status,
        {% for field in var('ledger_amount_fields') %}
        {{ ledger_utils.cents_to_amount(field ~ '_cents') }} as {{ field }}_amount,
        {% endfor %}
        status = 'void' as is_void
    from base

)

select *
from final

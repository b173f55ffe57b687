{{ config(materialized='ephemeral') }}

{%- set amount_columns = ledger_utils.suffixed_columns(var('ledger_amount_fields'), '_amount') %}

with invoices as (

    select *
    from {{ ref('stg_ledger__invoice') }}
    where not is_void

),

final as (

    select
        invoice_id,
        subscription_id,
        issued_on,
        due_on,
        invoice_status,
        {{ days_until_due('issued_on', 'due_on') }} as payment_terms_days,
        {%- for col in amount_columns %}
        {{ col }},
        {%- endfor %}
        gross_amount - discount_amount as "Net Amount",
        gross_amount - discount_amount + tax_amount as "Amount Due"
    from invoices

)

select *
from final

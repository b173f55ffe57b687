{{
    config(
        materialized='table',
        tags=['finance', 'daily']
    )
}}

{%- set amount_columns = ledger_utils.suffixed_columns(var('ledger_amount_fields'), '_amount') %}

with invoices as (

    select *
    from {{ ref('int_ledger__invoice_amounts') }}

),

settlements as (

    select *
    from {{ ref('int_ledger__invoice_settlement') }}

),

subscriptions as (

    select *
    from {{ ref('int_ledger__subscription_spans') }}

),

accounts as (

    select *
    from {{ ref('stg_ledger__account') }}

),

invoice_settled as (

    select
        invoices.invoice_id,
        invoices.subscription_id,
        invoices.issued_on,
        invoices.due_on,
        invoices.invoice_status,
        {%- for col in amount_columns %}
        invoices.{{ col }},
        {%- endfor %}
        invoices."Net Amount",
        invoices."Amount Due",
        coalesce(settlements.payment_received, 0) as payment_received,
        coalesce(settlements.credit_received, 0) as credit_received,
        settlements.last_paid_on
    from invoices
    left join settlements
        on invoices.invoice_id = settlements.invoice_id

),

invoice_plans as (

    select
        invoice_settled.*,
        subscriptions.account_id,
        subscriptions.plan_name,
        subscriptions.billing_cadence
    from invoice_settled
    left join subscriptions
        on invoice_settled.subscription_id = subscriptions.subscription_id

),

final as (

    select
        invoice_plans.*,
        accounts.account_name,
        accounts.region,
        accounts.account_tier,
        invoice_plans."Amount Due" - invoice_plans.payment_received - invoice_plans.credit_received as "Open Balance",
        {{ days_past_due('invoice_plans.due_on', 'invoice_plans.last_paid_on') }} as days_late
    from invoice_plans
    inner join accounts
        on invoice_plans.account_id = accounts.account_id

)

select *
from final

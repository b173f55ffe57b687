{{ config(materialized='table') }}

with accounts as (

    select *
    from {{ ref('stg_ledger__account') }}

),

invoices as (

    select *
    from {{ ref('ledger__invoice_details') }}

),

revenue as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.region,
        {% for field in var('ledger_amount_fields') %}
        coalesce(sum(invoices.{{ field }}_amount), 0) as {{ field }}_total,
        {% endfor %}
        coalesce(sum(invoices."Net Amount"), 0) as "Net Amount",
        coalesce(sum(invoices."Open Balance"), 0) as "Open Balance",
        count(invoices.invoice_id) as invoice_count
    from accounts
    left join invoices
        on accounts.account_id = invoices.account_id
    group by accounts.account_id, accounts.account_name, accounts.region

)

select *
from revenue

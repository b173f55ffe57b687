with invoices as (

    select *
    from {{ ref('ledger__invoice_details') }}

)

select
    plan_name,
    billing_cadence,
    invoice_status,
    count(*) as invoice_count,
    sum("Net Amount") as "Net Amount",
    sum("Open Balance") as "Open Balance"
from invoices
group by 1, 2, 3

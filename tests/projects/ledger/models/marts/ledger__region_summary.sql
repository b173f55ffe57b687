with accounts as (

    select *
    from {{ ref('ledger__account_health') }}

)

select
    region,
    count(*) as account_count,
    sum(case when is_active_customer then 1 else 0 end) as active_accounts,
    round(avg("Average Invoice"), 2) as "Average Invoice"
from accounts
group by 1

{%- set metrics = var('ledger_amount_fields') %}

with revenue as (

    select *
    from {{ ref('ledger__account_revenue') }}

),

tenure as (

    select
        account_id,
        sum(active_months) as active_months,
        count(*) as subscription_count,
        bool_or(is_current) as has_current_subscription
    from {{ ref('int_ledger__subscription_spans') }}
    group by 1

),

final as (

    select
        revenue.account_id,
        revenue.account_name,
        revenue.region,
        tenure.subscription_count,
        {% for metric in metrics %}
        round(revenue.{{ metric }}_total / nullif(tenure.active_months, 0), 2) as {{ metric }}_per_month,
        {% endfor %}
        round({{ ledger_utils.safe_divide('revenue."Net Amount"', 'revenue.invoice_count') }}, 2) as "Average Invoice",
        coalesce(tenure.has_current_subscription, false) as is_active_customer
    from revenue
    left join tenure
        on revenue.account_id = tenure.account_id

)

select *
from final

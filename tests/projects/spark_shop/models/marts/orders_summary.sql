with orders as (
    select * from {{ ref('stg_orders') }}
)

select
    orders.status,
    count(*) as order_count,
    sum(orders.amount) as total_amount,
    {{ safe_divide('sum(orders.amount)', 'count(*)') }} as avg_amount,
    count(distinct orders.customer_id) as customer_count
from orders
group by orders.status

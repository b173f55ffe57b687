with orders as (
    select * from {{ ref('stg_orders') }}
),

products as (
    select * from {{ ref('stg_products') }}
)

select
    orders.status,
    count(*) as order_count,
    sum(orders.amount) as total_amount,
    {{ safe_divide('sum(orders.amount)', 'count(*)') }} as avg_amount,
    count(distinct products.category) as category_count
from orders
left join products on orders.product_id = products.product_id
group by orders.status

with source as (
    select * from {{ ref('raw_orders') }}
)

select
    order_id,
    customer_id,
    product_id,
    cast(order_date as date) as order_date,
    lower(status) as status,
    cast(amount as decimal(10, 2)) as amount
from source

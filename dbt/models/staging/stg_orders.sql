with source as (
    select * from {{ ref('sample_orders') }}
)

select
    order_id,
    customer_id,
    product_id,
    order_date,
    lower(status) as status,
    cast(amount as decimal(10, 2)) as amount
from source

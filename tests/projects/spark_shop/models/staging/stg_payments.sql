select
    payment_id,
    order_id,
    lower(method) as payment_method,
    cast(amount as decimal(10, 2)) as payment_amount
from {{ source('lake', 'payments') }}

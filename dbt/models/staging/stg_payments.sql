select
    payment_id,
    order_id,
    lower(method) as payment_method,
    cast(amount as decimal(10, 2)) as payment_amount,
    paid_at
from {{ source('raw', 'payments') }}

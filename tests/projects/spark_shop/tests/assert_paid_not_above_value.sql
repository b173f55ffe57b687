-- A customer can never have paid more than the value of their orders.
select customer_id, lifetime_value, paid_value
from {{ ref('customer_orders') }}
where paid_value > lifetime_value

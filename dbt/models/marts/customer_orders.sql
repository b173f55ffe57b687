with customers as (
    select * from {{ ref('stg_customers') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

payments as (
    select order_id, sum(payment_amount) as paid_amount
    from {{ ref('stg_payments') }}
    group by order_id
)

select
    customers.customer_id,
    customers.customer_name,
    customers.country,
    count(orders.order_id) as order_count,
    coalesce(sum(orders.amount), 0) as lifetime_value,
    coalesce(sum(payments.paid_amount), 0) as paid_value,
    min(orders.order_date) as first_order_date,
    max(orders.order_date) as last_order_date,
    {{ dbt.datediff('customers.signup_date', 'min(orders.order_date)', 'day') }} as days_to_first_order
from customers
left join orders on customers.customer_id = orders.customer_id
left join payments on orders.order_id = payments.order_id
group by customers.customer_id, customers.customer_name, customers.country, customers.signup_date

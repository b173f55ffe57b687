select
    product_id,
    product_name,
    lower(category) as category,
    cast(price as decimal(10, 2)) as price
from {{ ref('raw_products') }}

select
    review_id,
    product_id,
    customer_id,
    rating,
    cast(reviewed_at as timestamp) as reviewed_at,
    meta.verified as is_verified,
    meta.helpful_votes as helpful_votes
from {{ source('raw', 'reviews') }}

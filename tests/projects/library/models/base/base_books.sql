select
    book_id,
    title,
    genre,
    published_year,
    {{ cents_to_units('list_price_cents') }} as list_price
from {{ ref('books') }}

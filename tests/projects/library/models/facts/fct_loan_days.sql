{{ config(materialized='incremental', unique_key='loan_id', on_schema_change='fail') }}

select
    l.loan_id,
    l.member_id,
    b.genre,
    l.loaned_on,
    {{ days_between('l.loaned_on', 'l.returned_on') }} as loan_days
from {{ ref('base_loans') }} as l
join {{ ref('base_books') }} as b on l.book_id = b.book_id
{% if is_incremental() %}
where l.loaned_on >= (select max(loaned_on) from {{ this }})
{% endif %}

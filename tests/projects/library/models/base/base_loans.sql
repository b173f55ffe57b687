{{ config(materialized='ephemeral') }}

select
    loan_id,
    book_id,
    member_id,
    loaned_on,
    returned_on,
    loan_state
from {{ ref('loans') }}

select
    member_id,
    full_name,
    cast(joined_on as date) as joined_on,
    tier
from {{ ref('members') }}

select
    m.member_id,
    m.full_name,
    m.tier,
    count(l.loan_id) as total_loans,
    {{ state_counts('l.loan_state', var('loan_states')) }}
from {{ ref('base_members') }} as m
left join {{ ref('base_loans') }} as l on m.member_id = l.member_id
group by m.member_id, m.full_name, m.tier

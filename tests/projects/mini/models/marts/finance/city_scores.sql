select city, count(*) as people, sum(score) as total_score
from {{ ref('stg_people') }}
group by city

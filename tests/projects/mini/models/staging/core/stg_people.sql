select person_id, full_name, city, score from {{ ref('people') }}

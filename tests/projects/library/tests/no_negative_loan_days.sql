select loan_id, loan_days
from {{ ref('fct_loan_days') }}
where loan_days < 0

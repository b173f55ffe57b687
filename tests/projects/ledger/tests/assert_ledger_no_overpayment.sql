-- Payments are booked for the amount due; paying more than that means a payment was booked twice.
select
    invoice_id,
    "Amount Due",
    payment_received
from {{ ref('ledger__invoice_details') }}
where payment_received > "Amount Due" + 0.01

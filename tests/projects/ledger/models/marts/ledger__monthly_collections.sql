with movements as (

    select *
    from {{ ref('int_ledger__cash_movements') }}

),

invoices as (

    select
        invoice_id,
        region
    from {{ ref('ledger__invoice_details') }}

),

final as (

    select
        strftime(date_trunc('month', movements.movement_on), '%Y-%m') as collection_month,
        invoices.region,
        movements.movement_kind,
        count(*) as movement_count,
        sum(movements.movement_amount) as collected_amount
    from movements
    inner join invoices
        on movements.invoice_id = invoices.invoice_id
    group by all

)

select *
from final

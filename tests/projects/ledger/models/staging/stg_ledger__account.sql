with base as (

    select *
    from {{ ref('ledger_account') }}

),

fields as (

    select
        cast(id as integer) as account_id,
        trim(name) as account_name,
        lower(region) as region,
        lower(tier) as account_tier,
        cast(opened_at as date) as opened_on,
        coalesce(is_test, false) as is_test_account
    from base

),

final as (

    select *
    from fields
    {% if var('ledger_exclude_test_accounts') %}
    where not is_test_account
    {% endif %}

)

select *
from final

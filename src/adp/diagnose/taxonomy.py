"""The diagnosis categories: one line each on what they mean (docs/diagnosis.md shows the same table)."""
from __future__ import annotations

CATEGORIES: dict[str, str] = {
    # SQL errors raised by the warehouse (node phase)
    "sql.column_not_found": "a column is referenced that the relation or CTE does not have",
    "sql.ambiguous_column": "an unqualified column exists in more than one joined relation",
    "sql.group_by": "a selected column is neither grouped nor aggregated",
    "sql.function_not_found": "a function name the warehouse does not know",
    "sql.type_not_found": "a data type name (in a cast) the warehouse does not know",
    "sql.unquoted_date_part": "a date part (day, month, ...) passed as a bare identifier instead of a string",
    "sql.table_not_found": "a hard-coded relation name that does not exist (should usually be ref()/source())",
    "sql.alias_not_found": "a column qualified with a table alias that the FROM clause does not define",
    "sql.syntax": "the SQL does not parse (missing comma, unbalanced parenthesis, ...)",
    "sql.conversion": "a value is implicitly converted to a type it cannot take (e.g. a join on keys of different types)",
    "sql.division_by_zero": "an integer division or modulo by zero",
    # dbt project errors
    "dbt.ref_not_found": "ref() names a model, seed or snapshot that does not exist",
    "dbt.ref_disabled": "ref() names a node that is disabled",
    "dbt.source_not_found": "source() names a source table that does not exist",
    "dbt.macro_undefined": "a macro is called that no project or package defines",
    "dbt.test_not_found": "a generic test name in YAML that no test macro defines",
    "dbt.materialization_not_found": "a materialization name the adapter does not provide",
    "dbt.jinja_syntax": "a Jinja template does not parse (unclosed tag or expression, missing end tag)",
    "dbt.yaml_syntax": "a YAML file does not parse",
    "dbt.duplicate_resource": "two resources have the same name",
    "dbt.cycle": "the ref() graph has a cycle",
    "dbt.env_var_missing": "env_var() without a default names a variable that is not set",
    "dbt.var_missing": "var() without a default names a variable that is not defined",
    "dbt.contract": "an enforced model contract does not match the model's columns or types",
    "dbt.incremental_schema_change": "an incremental model's columns changed and on_schema_change=fail",
    "dbt.seed_schema_change": "a seed's columns changed while its table already exists (needs --full-refresh)",
    "dbt.packages_missing": "packages.yml lists packages that are not installed (dbt deps)",
    "dbt.snapshot": "a snapshot is misconfigured",
    "dbt.no_nodes_selected": "the selection matched no node",
    # environment
    "env.profile": "the profile named by dbt_project.yml does not exist or cannot be read",
    "env.target": "the selected target is not an output of the profile",
    "env.db_locked": "another process holds the warehouse file (transient: retry)",
    "env.warehouse_unavailable": "the connection to the warehouse or its metastore was lost or refused (transient: retry)",
    # data
    "data.test_failure": "a data test returned failing rows",
    "data.unit_test_failure": "a unit test's actual rows differ from the expected rows",
    "data.bad_value": "a value in the data does not fit the type the project casts it to",
    "source.file_missing": "a file a source reads from is missing",
    "unknown": "no rule recognised the failure; the message is kept verbatim",
}

TRANSIENT = frozenset({"env.db_locked", "env.warehouse_unavailable"})


def is_transient(category: str) -> bool:
    return category in TRANSIENT

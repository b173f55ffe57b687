"""Faults injected into tests/projects/spark_shop for the Spark tier, and a recorder of Spark's real texts.

Each fault is one text replacement in one project file. Faults in the same group touch independent
nodes (or a node and its downstream), so one `adp run` heals the whole group. `recorded/` keeps the
verbatim messages of real dbt-spark runs; the message-parsing tests read them.

Re-record (needs the `[spark]` extra and Java; several minutes):
    .venv/bin/python tests/spark_faults.py record
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "projects" / "spark_shop"
RECORDED = HERE / "spark_errors"


@dataclass(frozen=True)
class Fault:
    id: str
    file: str
    old: str
    new: str
    category: str  # what diagnosis must say
    outcome: str  # healed | escalate
    surfaces: str | None = None  # the node that fails, when not the edited file's node

    def inject(self, project: Path) -> None:
        path = project / self.file
        text = path.read_text(encoding="utf-8")
        assert text.count(self.old) == 1, f"{self.id}: `{self.old}` must occur once in {self.file}"
        path.write_text(text.replace(self.old, self.new), encoding="utf-8")


STG_CUSTOMERS, STG_ORDERS, STG_PAYMENTS = (f"models/staging/{n}.sql" for n in ("stg_customers", "stg_orders", "stg_payments"))
CUSTOMER_ORDERS, ORDERS_SUMMARY = "models/marts/customer_orders.sql", "models/marts/orders_summary.sql"

FAULTS = (
    Fault("column_typo", STG_CUSTOMERS, "    first_name,\n", "    frist_name,\n", "sql.column_not_found", "healed"),
    Fault("missing_comma", STG_ORDERS, "as order_date,", "as order_date", "sql.syntax", "healed"),
    Fault("function_typo", STG_PAYMENTS, "lower(method)", "lowr(method)", "sql.function_not_found", "healed"),
    Fault("group_by_missing", CUSTOMER_ORDERS, "group by customers.customer_id, customers.customer_name,",
          "group by customers.customer_id,", "sql.group_by", "healed"),
    Fault("wrong_alias", ORDERS_SUMMARY, "    orders.status,", "    o.status,", "sql.alias_not_found", "healed"),
    Fault("hardcoded_table", STG_CUSTOMERS, "from {{ ref('raw_customers') }}", "from raw_customer",
          "sql.table_not_found", "healed"),
    Fault("ambiguous_column", CUSTOMER_ORDERS, "select\n    customers.customer_id,", "select\n    customer_id,",
          "sql.ambiguous_column", "healed"),
    Fault("type_typo", STG_PAYMENTS, "decimal(10, 2)) as payment_amount", "decmal(10, 2)) as payment_amount",
          "sql.type_not_found", "healed"),
    Fault("division_by_zero", ORDERS_SUMMARY, "count(distinct orders.customer_id) as customer_count",
          "count(distinct orders.customer_id) as customer_count,\n"
          "    count(*) div count(case when orders.status = 'cancelled' then 1 end) as orders_per_cancellation",
          "sql.division_by_zero", "healed"),
    Fault("unbalanced_paren", STG_ORDERS, "decimal(10, 2)) as amount", "decimal(10, 2) as amount", "sql.syntax", "healed"),
    Fault("ref_typo", STG_PAYMENTS, "{{ source('lake', 'payments') }}", "{{ source('lake', 'paymnts') }}",
          "dbt.source_not_found", "healed"),
    Fault("bad_value", "seeds/raw_orders.csv", "5,1,2,2024-01-10,returned,42.00", "5,1,2,2024-01-10,returned,42.OO",
          "data.bad_value", "escalate", "orders_summary"),
    Fault("accepted_values_fails", "seeds/raw_orders.csv", "4,3,1,2024-01-09,placed,", "4,3,1,2024-01-09,lost,",
          "data.test_failure", "escalate"),
)
BY_ID = {f.id: f for f in FAULTS}

# Faults recorded together in one dbt build: each group's faults sit in nodes that do not skip each other.
RECORD_GROUPS = (
    ("column_typo", "missing_comma", "function_typo"),
    ("group_by_missing", "wrong_alias"),
    ("hardcoded_table", "bad_value"),
    ("ambiguous_column", "division_by_zero"),
    ("unbalanced_paren",),
    ("type_typo",),
)


def record(groups=RECORD_GROUPS) -> None:
    """Build spark_shop once, then each group of faults on a copy; keep each failed node's message."""
    RECORDED.mkdir(exist_ok=True)
    dbt = str(Path(sys.executable).parent / "dbt")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        shutil.copytree(PROJECT, base)
        subprocess.run([dbt, "build"], cwd=base, check=True, capture_output=True)
        for group in groups:
            work = Path(tmp) / "-".join(group)
            shutil.copytree(base, work)
            for fid in group:
                BY_ID[fid].inject(work)
            subprocess.run([dbt, "build"], cwd=work, capture_output=True)
            results = json.loads((work / "target" / "run_results.json").read_text())["results"]
            errors = {r["unique_id"]: r["message"] for r in results if r["status"] == "error"}
            for fid in group:
                node = BY_ID[fid].surfaces or Path(BY_ID[fid].file).stem
                message = next((m for uid, m in errors.items() if uid.split(".")[-1] == node), None)
                if message:
                    (RECORDED / f"{fid}.txt").write_text(message, encoding="utf-8")
                statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
                print(fid, "recorded" if message else f"NOT recorded ({statuses})")


if __name__ == "__main__" and sys.argv[1:2] == ["record"]:
    record(tuple(tuple(a.split(",")) for a in sys.argv[2:]) or RECORD_GROUPS)

"""Rules for failed data tests and unit tests: the data (or the expectation) needs a decision, not an edit."""
from __future__ import annotations

from adp.diagnose.context import Context, Failure, Location
from adp.diagnose.locate import find_yaml_key
from adp.diagnose.rules._base import node_id, rule, yaml_test_line
from adp.models import Diagnosis

@rule(resources=("unit_test",))
def unit_test_failure(ctx: Context, f: Failure) -> Diagnosis | None:
    """A unit test's actual rows differ from its expected rows.

    Message: `actual differs from expected:  @@,book_id,list_price  → ,1 ,100.0→10.0`
    Diagnosis: `data.unit_test_failure` at the unit test's `name:` line; details keep the diff.
    """
    node = ctx.node(node_id(f))
    if f.node is None or f.node.status not in ("fail", "error"):
        return None
    rel = node.get("original_file_path")
    line = find_yaml_key(ctx.read(rel) or "", "name", node.get("name", ""))
    diff = [ln.rstrip() for ln in f.text.splitlines() if ln.strip() and not ln.strip().startswith("actual differs")]
    return ctx.diagnosis(
        f, "data.unit_test_failure", f"Unit test {node.get('name')} of {node.get('model')}: actual rows differ from the expected rows.",
        location=Location(rel, line, ctx.attached(node_id(f))), evidence=["actual differs from expected:", *diff[:4]],
        details={"model": node.get("model"), "diff": diff},
    )


@rule(resources=("test",))
def test_failure(ctx: Context, f: Failure) -> Diagnosis | None:
    """A data test (generic or singular) found failing rows: the data, not the code, needs a decision.

    Message: `Got 1 result, configured to fail if != 0` (status `fail`)
    Diagnosis: `data.test_failure` at the test's YAML line (or the singular test file), attached to its model.
    """
    node = ctx.node(node_id(f))
    if f.node is None or f.node.status != "fail":
        return None
    meta = node.get("test_metadata") or {}
    column = meta.get("kwargs", {}).get("column_name")
    model = ctx.attached(node_id(f))
    rel = node.get("original_file_path")
    line = yaml_test_line(ctx.read(rel) or "", ctx.node(model).get("name"), column, meta.get("name")) if meta else None
    what = f"{meta.get('name')} test on {ctx.node(model).get('name')}.{column}" if meta else f"singular test {node.get('name')}"
    return ctx.diagnosis(
        f, "data.test_failure", f"The {what} found {f.node.failures} failing row(s): the data, not the code, needs a decision.",
        location=Location(rel, line, model), identifier=column, evidence=[f.text.strip()],
        details={"test": meta.get("name") or "singular", "model": model, "column": column, "failures": f.node.failures,
                 "kwargs": {k: v for k, v in meta.get("kwargs", {}).items() if k != "model"}},
    )

"""Every fix rule over the whole fault corpus, on temp copies of the faulty projects (no dbt needed).

Diagnoses come from adp.diagnose when it can read the case (recorded RunResult + manifest), else
they are built from the case's expected.json the way the diagnosis engine fills them in. For each
case that should heal, the best proposal must restore the project file byte for byte (or carry the
expected run action); for each case that needs intent, nothing may be auto-applicable; and every
proposal any rule makes must pass the guards (no rule ever weakens a test).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from adp.apply import edited_texts
from adp.errors import FixError
from adp.fixes import RULES, guards, propose
from adp.fixes.context import FixContext
from adp.models import Candidate, Diagnosis, RunResult

sys.path.insert(0, str(Path(__file__).parent / "faults"))
import corpus  # noqa: E402

from adp.project import DbtProject  # noqa: E402

CASES = corpus.cases()
THRESHOLD = 0.8  # autonomous.min_confidence default


def _restore(case, dest: Path) -> RunResult | None:
    if (case.recorded / "result.json").is_file():
        return corpus.restore(case, dest)
    shutil.copytree(corpus.PROJECTS / case.project, dest)
    corpus.apply_fault(case, dest)
    return None


# Verbatim DuckDB texts (reference catalog) for cases whose recording is not there yet.
MESSAGES = {
    "shop_ambiguous_column": 'Binder Error: Ambiguous reference to column name "customer_id" '
                             "(use: 'customers.customer_id' or 'orders.customer_id')",
    "shop_wrong_alias": 'Binder Error: Referenced table "o" not found!\nCandidate tables: "orders", "products"',
    "shop_qualified_column_typo": 'Binder Error: Values list "orders" does not have a column named "stauts"',
}


def _message(result: RunResult | None, node: str | None, case_id: str) -> str:
    if result is None:
        return MESSAGES.get(case_id, "")
    for n in result.nodes:
        if n.failed and (node is None or n.unique_id == node) and n.message:
            return n.message
    return result.error or ""


def _diagnoses(case, project: DbtProject, result: RunResult | None) -> list[Diagnosis]:
    try:
        from adp.diagnose import diagnose  # the engine, once it is in place
    except ImportError:
        diagnose = None
    if diagnose is not None and result is not None:
        found = diagnose(result, project)
        if found:
            return found
    out = []
    for e in case.expected:
        top = e.get("top_candidate")
        out.append(Diagnosis(
            category=e["category"],
            summary=case.spec.get("description", ""),
            node=e.get("node"),
            root_cause_node=e.get("root_cause_node") or e.get("node"),
            file=e.get("file"),
            line=e.get("line"),
            identifier=e.get("identifier"),
            candidates=[Candidate(top, 0.9, "message")] if top else [],
            phase=e.get("phase", "node"),
            message=_message(result, e.get("node"), case.id),
        ))
    return out


@pytest.fixture(params=[c.id for c in CASES])
def case_run(request, tmp_path):
    case = next(c for c in CASES if c.id == request.param)
    dest = tmp_path / case.project
    result = _restore(case, dest)
    project = DbtProject.open(dest, dest)
    return case, project, result, _diagnoses(case, project, result)


def _after(project: DbtProject, proposal) -> dict[str, str]:
    return {rel: after for rel, (_, after) in edited_texts(project, proposal).items()}


def test_corpus_case(case_run):
    case, project, result, diagnoses = case_run
    proposals = [p for d in diagnoses for p in propose(d, project, result)]
    fix = case.spec.get("fix") or {}
    if case.outcome == "healed" and fix.get("file"):
        assert proposals, f"{case.id}: no proposal for {diagnoses[0].category}"
        best = proposals[0]
        faulty = (project.project_dir / fix["file"]).read_text(encoding="utf-8")
        expected = faulty.replace(fix["old"], fix["new"], 1)  # the case's one right fix
        original = (corpus.PROJECTS / case.project / fix["file"]).read_text(encoding="utf-8")
        assert _after(project, best).get(fix["file"]) in (expected, original), f"{case.id}: {best}"
    elif case.outcome == "healed" and fix.get("action") == "full_refresh":
        assert proposals and proposals[0].action and "full_refresh" in proposals[0].action, case.id
    elif case.outcome == "escalate":
        auto = [p for p in proposals if p.confidence >= THRESHOLD and not p.needs_review]
        assert not auto, f"{case.id}: would auto-apply {auto[0]}"


def test_no_rule_weakens_a_test(case_run):
    """Every proposal of every rule, before propose() filters anything, passes guards.check."""
    case, project, result, diagnoses = case_run
    ctx = FixContext(project, result)
    for d in diagnoses:
        for rule in RULES:
            for p in rule(d, ctx):
                try:
                    guards.check(p, project, ctx.manifest)
                except FixError as exc:
                    pytest.fail(f"{case.id}: rule {rule.__name__} made a proposal the guards refuse: {exc}")

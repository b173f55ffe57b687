"""Every fix rule over the whole fault corpus, on temp copies of the faulty projects (no dbt needed).

Diagnoses come from adp.diagnose on each case's recording (RunResult + manifest). For each
case that should heal, the best proposal must restore the project file byte for byte (or carry the
expected run action); for each case that needs intent, nothing may be auto-applicable; and every
proposal any rule makes must pass the guards (no rule ever weakens a test).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adp.apply import edited_texts
from adp.diagnose import diagnose
from adp.errors import FixError
from adp.fixes import candidates, guards, propose
from adp.fixes.context import FixContext

sys.path.insert(0, str(Path(__file__).parent / "faults"))
import corpus  # noqa: E402

from adp.project import DbtProject  # noqa: E402

CASES = corpus.cases()
THRESHOLD = 0.8  # autonomous.min_confidence default


@pytest.fixture(params=[c.id for c in CASES])
def case_run(request, tmp_path):
    case = next(c for c in CASES if c.id == request.param)
    dest = tmp_path / case.project
    result = corpus.restore(case, dest)
    project = DbtProject.open(dest, dest)
    return case, project, result, diagnose(result, project)


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
        for rule, p in candidates(d, ctx):
            try:
                guards.check(p, project, ctx.manifest)
            except FixError as exc:
                pytest.fail(f"{case.id}: rule {rule.__name__} made a proposal the guards refuse: {exc}")

"""Golden tests over the fault corpus (tests/faults): recorded real-dbt artifacts, and a dbt tier re-running them."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
from corpus import Case, cases, restore, run_fault  # noqa: E402

from adp.diagnose import diagnose  # noqa: E402
from adp.project import DbtProject  # noqa: E402

CASES = cases()


def check(case: Case, diagnoses) -> None:
    """Compare diagnoses with the case's hand-written expectations, in order."""
    got = [d.to_dict() for d in diagnoses]
    assert len(got) == len(case.expected), f"{case.id}: expected {len(case.expected)} diagnoses, got {got}"
    for want, d in zip(case.expected, got):
        if (want.get("node") or "").startswith("test.") and (d["node"] or "").startswith(want["node"] + "."):
            d["node"] = want["node"]  # dbt appends a hash to long generic test names
        for key in ("category", "node", "file", "identifier", "root_cause_node", "phase", "line", "transient"):
            if key in want:
                assert d[key] == want[key], f"{case.id}: {key} {d[key]!r} != expected {want[key]!r}\n{d}"
        if "top_candidate" in want:
            top = d["candidates"][0]["name"] if d["candidates"] else None
            assert top == want["top_candidate"], f"{case.id}: top candidate {top!r} != {want['top_candidate']!r}\n{d['candidates']}"
        assert d["summary"] and d["message"], case.id


def test_corpus_shape():
    """At least 30 cases, all recorded, at least 10 on the second project, every outcome stated."""
    assert len(CASES) >= 30
    assert all((c.recorded / "result.json").is_file() for c in CASES), [c.id for c in CASES if not (c.recorded / "result.json").is_file()]
    assert sum(c.project != "shop" for c in CASES) >= 10
    assert all(c.outcome in ("healed", "escalate") for c in CASES)
    assert sum(c.outcome == "escalate" for c in CASES) >= 8
    assert all(c.spec.get("fix") for c in CASES if c.outcome == "healed")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_recorded(case: Case, tmp_path: Path):
    result = restore(case, tmp_path / case.project)
    check(case, diagnose(result, DbtProject.open(tmp_path / case.project, tmp_path / case.project)))


@pytest.mark.dbt
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_real_dbt(case: Case, warm_project):
    """Re-run the real dbt on the fault so the recordings cannot drift from dbt's behaviour."""
    project_dir = warm_project(case.project)
    shutil.rmtree(project_dir / "logs", ignore_errors=True)
    result = run_fault(case, project_dir)
    check(case, diagnose(result, DbtProject.open(project_dir, project_dir)))

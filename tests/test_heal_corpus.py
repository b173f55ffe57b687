"""The healing contract on the whole fault corpus, with the real dbt and DuckDB.

Every `healed` fault must end green with the project files byte-identical to the original project,
or, where the fault added content or changed a data file (which no fix may touch), byte-identical to
the faulted project with the case's hand-written fix applied. Every `escalate` fault must stop for a
person (exit 3) with a diagnosis and no file changed.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from conftest import run_adp

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
from corpus import apply_fault, cases  # noqa: E402

pytestmark = pytest.mark.dbt

SKIP_PARTS = {"target", "logs", "dbt_packages"}
CASES = [c for c in cases() if "setup" not in c.spec]  # the lock case is proven by test_backoff.py


def tree(root: Path) -> dict[str, str]:
    """Hash of every project file (not dbt's outputs, not the warehouse)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not SKIP_PARTS & set(p.relative_to(root).parts) and ".duckdb" not in p.name
    }


def with_expected_fix(case, project: Path, faulted: dict[str, str]) -> dict[str, str]:
    """The faulted tree with the case's expected edit applied (unchanged for a run action)."""
    fix = case.spec.get("fix", {})
    if "file" not in fix:
        return faulted
    text = (project / fix["file"]).read_text(encoding="utf-8")
    assert text.count(fix["old"]) == 1, f"{case.id}: expected fix does not apply to the faulted file"
    fixed = text.replace(fix["old"], fix["new"], 1).encode("utf-8")
    return {**faulted, fix["file"]: hashlib.sha256(fixed).hexdigest()}


def heal(case, project: Path, cwd: Path, *extra: str):
    res = run_adp(
        "run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "autonomous", "--json",
        *extra, *case.spec.get("adp_args", []), cwd=cwd, timeout=600,
    )
    assert res.stdout.strip(), f"adp crashed (exit {res.returncode}):\n{res.stderr[-3000:]}"
    return res


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "healed"], ids=lambda c: c.id)
def test_fault_heals_to_the_original_files(case, warm_project, tmp_path):
    project = warm_project(case.project)
    original = tree(project)
    apply_fault(case, project)
    faulted = tree(project)
    assert faulted != original
    acceptable = (original, with_expected_fix(case, project, faulted))
    res = heal(case, project, tmp_path)
    out = res.json()
    assert res.returncode == 0, f"{out['status']}: {out.get('findings_path')}\n{res.stderr[-2000:]}"
    assert out["status"] == "healed"
    assert out["diagnoses"] and out["diagnoses"][0]["category"] == case.expected[0]["category"]
    applied = [f for f in out["fixes"] if f["applied"]]
    assert applied and all(f["confidence"] >= 0.8 for f in applied)
    assert tree(project) in acceptable, "healed files differ from the original and from the expected fix"


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "escalate"], ids=lambda c: c.id)
def test_intent_fault_escalates_without_changing_files(case, warm_project, tmp_path):
    project = warm_project(case.project)
    apply_fault(case, project)
    before = tree(project)
    res = heal(case, project, tmp_path)
    out = res.json()
    assert res.returncode == 3, f"{out['status']}\n{res.stderr[-2000:]}"
    assert out["status"] == "needs_review"
    assert out["diagnoses"] and out["diagnoses"][0]["category"] == case.expected[0]["category"]
    assert not any(f["applied"] for f in out["fixes"])
    assert tree(project) == before, "an intent fault must not change any file"
    findings = Path(out["findings_path"]).read_text()
    assert "## Diagnosis" in findings and out["diagnoses"][0]["category"] in findings

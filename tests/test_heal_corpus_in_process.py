"""The opt-in in-process engine (`engine: in_process`) heals the hand-written fault corpus exactly as the
subprocess engine does (the seeded `gen_*` cases exercise the rules, not the engine, and run once, in
tests/test_heal_corpus.py, which holds the contract; its helpers are reused so both engines are held
to the same contract), and every dbt call of the run really ran in process (the
engine falls back to a subprocess only when it breaks itself, and the run log would say so).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_heal_corpus import CASES, heal, tree, with_expected_fix
from corpus import apply_fault

pytestmark = pytest.mark.dbt

def in_process_config(cwd: Path) -> None:
    (cwd / "config").mkdir()
    (cwd / "config" / "execution_mode.yml").write_text("engine: in_process\n", encoding="utf-8")


def engine_of(out: dict) -> str:
    """The engine that ran every dbt call of the run ('mixed' when some fell back)."""
    events = [json.loads(line) for line in Path(out["log_path"]).read_text().splitlines() if line.strip()]
    ran = {e["engine"] for e in events if e.get("event") == "dbt_finished" and e.get("run_id") == out["run_id"]}
    return ran.pop() if len(ran) == 1 else "mixed"


def outcome_of(res) -> dict:
    assert res.stdout.lstrip().startswith("{"), f"rc {res.returncode}, no JSON outcome:\n{res.stderr[-3000:]}"
    return res.json()


def cases(outcome: str) -> list:
    return [c for c in CASES if c.outcome == outcome and not c.id.startswith("gen_")]


@pytest.mark.parametrize("case", cases("healed"), ids=lambda c: c.id)
def test_in_process_heals_to_the_original_files(case, warm_project, tmp_path):
    project = warm_project(case.project)
    original = tree(project)
    apply_fault(case, project)
    acceptable = (original, with_expected_fix(case, project, tree(project)))
    in_process_config(tmp_path)
    res = heal(case, project, tmp_path)
    out = outcome_of(res)
    assert engine_of(out) == "in_process"
    assert res.returncode == 0, f"{out['status']}: {out.get('findings_path')}\n{res.stderr[-2000:]}"
    assert out["status"] == "healed"
    assert out["diagnoses"][0]["category"] == case.expected[0]["category"]
    assert all(f["confidence"] >= 0.8 for f in out["fixes"] if f["applied"])
    assert tree(project) in acceptable, "healed files differ from the original and from the expected fix"


@pytest.mark.parametrize("case", cases("escalate"), ids=lambda c: c.id)
def test_in_process_escalates_without_changing_files(case, warm_project, tmp_path):
    project = warm_project(case.project)
    apply_fault(case, project)
    before = tree(project)
    in_process_config(tmp_path)
    res = heal(case, project, tmp_path)
    out = outcome_of(res)
    assert engine_of(out) == "in_process"
    assert res.returncode == 3 and out["status"] == "needs_review", res.stderr[-2000:]
    assert out["diagnoses"][0]["category"] == case.expected[0]["category"]
    assert tree(project) == before

"""`adp check`: the pre-flight binder pass finds the corpus's binder, catalog and parser faults without a
build, as the build's diagnosis names them, and never writes to the warehouse file or the project."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
from conftest import run_adp  # noqa: E402
from corpus import Case, apply_fault, cases  # noqa: E402
from test_diagnose_corpus import check as same_as_build  # noqa: E402
from test_heal_corpus import tree, with_expected_fix  # noqa: E402

from adp.check.state import changes, save  # noqa: E402
from adp.models import Candidate, Diagnosis  # noqa: E402
from adp.project import DbtProject  # noqa: E402

pytestmark = pytest.mark.dbt

# What a binder, a catalog or dbt's parser and renderer can tell without running anything.
FOUND_WITHOUT_A_BUILD = frozenset({
    "sql.column_not_found", "sql.function_not_found", "sql.table_not_found", "sql.type_not_found", "sql.group_by",
    "sql.ambiguous_column", "sql.alias_not_found", "sql.syntax", "sql.unquoted_date_part", "dbt.ref_not_found",
    "dbt.source_not_found", "dbt.macro_undefined", "dbt.jinja_syntax",
})
CASES = [c for c in cases() if c.expected and {e["category"] for e in c.expected} <= FOUND_WITHOUT_A_BUILD
         and not any(e.get("root_cause_node") for e in c.expected)]
CONFIG = "ingest: {on_run: false}\nreport: {on_run: false}\n"


def project_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not {"target", "logs", "dbt_packages"} & set(p.relative_to(root).parts)
            and ".duckdb" not in p.name and not p.name.endswith(".lock")}


def warehouse_file(project: Path) -> Path:
    [db] = [p for p in project.glob("*.duckdb")]
    return db


def good_run_state(project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The state a green `adp run` leaves (the build of the warm copy was green); config and log dirs."""
    config, logs = tmp_path / "config", tmp_path / "logs"
    config.mkdir(exist_ok=True)
    (config / "execution_mode.yml").write_text(CONFIG)
    save(DbtProject.open(project, project), logs)
    return config, logs


def adp_check(project: Path, config: Path, logs: Path, *extra: str):
    res = run_adp("check", "--project-dir", str(project), "--profiles-dir", str(project), "--config-dir", str(config),
                  "--log-dir", str(logs), "--json", *extra, cwd=project)
    return res, json.loads(res.stdout) if res.stdout.strip().startswith("{") else None


def test_the_corpus_cases_the_check_covers():
    assert len(CASES) >= 30 and {e["category"] for c in CASES for e in c.expected} >= {
        "sql.column_not_found", "sql.function_not_found", "sql.group_by", "sql.ambiguous_column", "sql.syntax",
        "dbt.ref_not_found", "dbt.macro_undefined"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_finds_the_fault_as_the_build_does_without_touching_the_warehouse(case: Case, warm_project, tmp_path):
    project = warm_project(case.project)
    config, logs = good_run_state(project, tmp_path)
    apply_fault(case, project)
    db = warehouse_file(project)
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns)
    files = project_files(project)
    artifacts = {n: (project / "target" / n).read_bytes() for n in ("run_results.json", "manifest.json")}

    res, out = adp_check(project, config, logs)

    assert res.returncode == 1 and out and out["status"] == "findings", res.stdout[-2000:] + res.stderr[-2000:]
    same_as_build(case, [_diagnosis(d) for d in out["diagnoses"]])
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before  # never written
    assert project_files(project) == files  # the check edits nothing, it proposes
    assert {n: (project / "target" / n).read_bytes() for n in artifacts} == artifacts  # what diagnosis of a build reads
    for p in out["proposals"]:
        assert Path(p["path"]).is_file() and p["id"] in res.stdout


def _diagnosis(d: dict) -> Diagnosis:
    return Diagnosis(**{**d, "candidates": [Candidate(**c) for c in d["candidates"]], "fact": None})


def test_nothing_changed_means_no_check_and_no_dbt(warm_project, tmp_path):
    project = warm_project("shop")
    config, logs = good_run_state(project, tmp_path)
    res, out = adp_check(project, config, logs)
    assert res.returncode == 0 and out["status"] == "unchanged", res.stdout
    assert not (logs / "check").exists()  # dbt was not started: nothing compiled
    (project / "dbt_project.yml").write_text((project / "dbt_project.yml").read_text() + "\n# a comment\n")
    assert changes(DbtProject.open(project, project), logs).kind == "all"  # project settings: everything is checked


def test_a_correct_edit_checks_clean_and_the_build_artifacts_stay(warm_project, tmp_path):
    project = warm_project("shop")
    config, logs = good_run_state(project, tmp_path)
    manifest = (project / "target" / "manifest.json").read_bytes()
    model = next((project / "models").rglob("stg_customers.sql"))
    model.write_text(model.read_text() + "\n-- reviewed\n")
    res, out = adp_check(project, config, logs)
    assert res.returncode == 0 and out["status"] == "clean", res.stdout[-2000:] + res.stderr[-2000:]
    assert any(uid.endswith(".stg_customers") for uid in out["checked"])  # the changed model and its children
    assert len(out["checked"]) > 1 and not out["diagnoses"]
    assert any(uid.startswith("test.") for uid in out["checked"]) and "rows" in out["note"]  # bound, not run: it says so
    assert (project / "target" / "manifest.json").read_bytes() == manifest  # compiled into its own target dir


def test_a_check_proposal_is_applied_with_fix_apply(warm_project, tmp_path):
    project = warm_project("shop")
    config, logs = good_run_state(project, tmp_path)
    model = next((project / "models").rglob("stg_customers.sql"))
    original = model.read_text()
    model.write_text(original.replace("first_name,", "frist_name,", 1))
    res, out = adp_check(project, config, logs)
    assert res.returncode == 1 and out["proposals"], res.stdout[-2000:]
    [p] = out["proposals"]
    applied = run_adp("fix", "apply", p["id"], "--project-dir", str(project), "--profiles-dir", str(project),
                      "--config-dir", str(config), "--log-dir", str(logs), "--json", cwd=project)
    assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    assert model.read_text() == original


def one_per_category(cases: list[Case]) -> list[Case]:
    """The first healed case of each category (the whole set: ADP_CHECK_ALL=1, minutes longer)."""
    if os.environ.get("ADP_CHECK_ALL"):
        return cases
    return list({c.expected[0]["category"]: c for c in reversed(cases)}.values())[::-1]


@pytest.mark.parametrize("case", one_per_category([c for c in CASES if c.outcome == "healed"]), ids=lambda c: c.id)
def test_run_heals_what_the_check_finds_then_builds_once(case, warm_project, tmp_path):
    """The heal corpus with the check on: after a good run, `adp run` checks the changed files first, applies
    the fix autonomous mode would apply, and one full build verifies it (no failing build first)."""
    project = warm_project(case.project)
    config, logs = good_run_state(project, tmp_path)
    original = tree(project)
    apply_fault(case, project)
    acceptable = (original, with_expected_fix(case, project, tree(project)))
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--config-dir", str(config),
                  "--log-dir", str(logs), "--mode", "autonomous", "--json", *case.spec.get("adp_args", []),
                  cwd=tmp_path, timeout=600)
    out = res.json()
    assert res.returncode == 0 and out["status"] == "healed", f"{out['status']}\n{res.stderr[-2000:]}"
    assert tree(project) in acceptable
    events = [json.loads(line) for line in (logs / "pipeline_runs.log").read_text().splitlines()]
    mine = [e for e in events if e.get("run_id") == out["run_id"]]
    found = [e for e in mine if e["event"] == "fix_proposed" and e.get("found_by") == "check"]
    builds = [e for e in mine if e["event"] == "dbt_invoked"]
    assert found, "the check did not find the fault before the build"
    names = [e["event"] for e in mine]
    assert names.index("fix_applied") < names.index("dbt_invoked")  # healed before any build ran
    assert builds[0]["args"] == ["build"]  # the first build is the whole one that verifies it
    if case.id != "shop_two_faults_one_model":  # there the second mistake shows only once the first is fixed
        assert len(builds) == 1, [e["args"] for e in builds]


def test_a_proposal_is_bound_as_if_applied_and_never_written(warm_project, tmp_path):
    project = warm_project("shop")
    config, logs = good_run_state(project, tmp_path)
    model = next((project / "models").rglob("stg_customers.sql"))
    rel = model.relative_to(project).as_posix()
    broken = model.read_text().replace("first_name,", "frist_name,", 1)
    model.write_text(broken)
    right, wrong = tmp_path / "right.json", tmp_path / "wrong.json"
    for path, name in ((right, "first_name,"), (wrong, "firstname,")):
        path.write_text(json.dumps({"rule": "agent", "edits": [{"path": rel, "old": "frist_name,", "new": name}]}))
    res, out = adp_check(project, config, logs, "--proposal", str(right))
    assert res.returncode == 0 and out["status"] == "clean", res.stdout[-2000:] + res.stderr[-2000:]
    assert any(uid.endswith(".stg_customers") for uid in out["checked"])
    res, out = adp_check(project, config, logs, "--proposal", str(wrong))
    assert res.returncode == 1 and out["diagnoses"][0]["category"] == "sql.column_not_found" and not out["proposals"]
    assert model.read_text() == broken and not (logs / "proposals").exists()  # bound, never written or saved
    missing = run_adp("check", "--project-dir", str(project), "--profiles-dir", str(project), "--config-dir",
                      str(config), "--log-dir", str(logs), "--proposal", str(tmp_path / "none.json"), cwd=project)
    assert missing.returncode == 2 and "none.json" in missing.stderr

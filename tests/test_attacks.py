"""Attacks on "never a wrong fix, never a weakened test, nothing lost": each tried through the real CLI
(`adp run`, `adp fix apply`, `adp fix rollback`, `scripts/apply_fix.py`) on real dbt + DuckDB, judged by
the exit code, the bytes on disk and what dbt parses afterwards; never by calling a guard directly.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, dbt_bin, run_adp

pytestmark = pytest.mark.dbt

MODEL = "models/marts/finance/city_scores.sql"
TYPO = ("sum(score)", "sum(scor)")


def adp(project: Path, cwd: Path, *args: str, env: dict | None = None):
    return run_adp(*args, "--project-dir", str(project), "--profiles-dir", str(project), cwd=cwd, env=env)


def sources(project: Path) -> dict[str, bytes]:
    """Every project file dbt or adp reads (not target/, logs or the warehouse)."""
    skip = ("target", "logs", "dbt_packages")
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in sorted(project.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.relative_to(project).parts[0] not in skip
            and ".duckdb" not in p.name}


def parsed(project: Path, tmp_path: Path) -> dict:
    """What dbt parses now (into a target dir of its own, so nothing adp reads is touched)."""
    target = tmp_path / "parse-target"
    proc = subprocess.run([dbt_bin(), "parse", "--project-dir", str(project), "--profiles-dir", str(project),
                           "--target-path", str(target)], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "DO_NOT_TRACK": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:]
    return json.loads((target / "manifest.json").read_text())


def enabled(manifest: dict) -> dict[str, dict]:
    """unique_id -> config of every enabled model, seed, snapshot and test."""
    return {uid: n["config"] for uid, n in manifest["nodes"].items()
            if n["resource_type"] in ("model", "seed", "snapshot", "test") and n["config"].get("enabled", True)}


def fail_on_record(project: Path, tmp_path: Path) -> None:
    """Misspell a column of city_scores and keep the failed `adp run --no-heal` in the run log."""
    model = project / MODEL
    model.write_text(model.read_text().replace(*TYPO))
    res = adp(project, tmp_path, "run", "--no-heal", "--json")
    assert res.returncode == 1, res.stderr[-2000:]


@pytest.fixture
def broken(warm_project, tmp_path):
    """mini with a misspelled column in city_scores and a failed `adp run --no-heal` on record."""
    project = warm_project("mini")
    before = enabled(parsed(project, tmp_path))
    fail_on_record(project, tmp_path)
    return project, before


def apply_file(project: Path, tmp_path: Path, edits: list[dict], source: str = "agent", mode: str = "autonomous"):
    proposal = {"rule": "agent", "rationale": "attack", "confidence": 0.99, "source": source,
                "edits": edits, "node": "model.mini.city_scores"}
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps(proposal))
    return adp(project, tmp_path, "fix", "apply", "--file", str(path), "--mode", mode, "--json")


def assert_refused(res, project: Path, files: dict[str, bytes], tmp_path: Path, before: dict, why: str):
    assert res.returncode == 2, (res.returncode, res.stdout[-1500:], res.stderr[-1500:])
    assert why in res.stderr, res.stderr[-1500:]
    assert sources(project) == files
    assert enabled(parsed(project, tmp_path)) == before


FIXED = {"path": MODEL, "old": "sum(scor)", "new": "sum(score)"}


@pytest.mark.parametrize("jinja", [
    "{{ config(enabled=(false)) }}",
    "{{ config(enabled=1 == 2) }}",
    "{% set e = false %}{{ config(enabled=e) }}",
    "{{ config(**{'enabled': False}) }}",
    "{{ config(enabled=var('not_set', false)) }}",
    "{%- if true -%}{{ config(enabled=not true) }}{%- endif -%}",
])
def test_jinja_that_disables_the_failing_model_is_refused(broken, tmp_path, jinja):
    project, before = broken
    files = sources(project)
    res = apply_file(project, tmp_path, [FIXED, {"path": MODEL, "old": "select city", "new": jinja + "\nselect city"}])
    assert_refused(res, project, files, tmp_path, before, "disables or removes `model.mini.city_scores`")
    assert res.json()["status"] == "refused"


def test_a_fix_after_which_the_project_does_not_parse_is_refused(broken, tmp_path):
    """Fail closed: without a parse after the fix there is nothing to compare, so nothing is kept."""
    project, before = broken
    files = sources(project)
    res = apply_file(project, tmp_path, [{"path": MODEL, "old": "sum(scor)", "new": "sum(score) {% if %}"}])
    assert_refused(res, project, files, tmp_path, before, "does not parse after the fix")


def test_enabled_false_in_dbt_project_yml_is_refused(broken, tmp_path):
    project, before = broken
    files = sources(project)
    edit = {"path": "dbt_project.yml", "old": "      +materialized: table\n", "new": "      +materialized: table\n      +enabled: false\n"}
    res = apply_file(project, tmp_path, [edit])
    assert res.returncode == 2 and sources(project) == files
    assert enabled(parsed(project, tmp_path)) == before


@pytest.mark.parametrize("block", [
    "data_tests:\n  +severity: warn\n",  # severity moved into dbt_project.yml
    "data_tests:\n  +where: \"{{ 'city is null' }}\"\n",  # a where filter rendered by Jinja
    "data_tests:\n  +enabled: \"{{ (1 == 2) | string }}\"\n",
    "data_tests:\n  +warn_if: \">1000000\"\n  +error_if: \">1000000\"\n",
])
def test_test_config_moved_into_dbt_project_yml_is_refused(broken, tmp_path, block):
    project, before = broken
    files = sources(project)
    res = apply_file(project, tmp_path, [FIXED, {"path": "dbt_project.yml", "old": "flags:\n", "new": block + "flags:\n"}])
    assert res.returncode == 2, res.stdout[-1500:]
    assert sources(project) == files
    assert enabled(parsed(project, tmp_path)) == before


def test_a_where_config_set_from_a_macro_in_schema_yml_is_refused(broken, tmp_path):
    project, before = broken
    files = sources(project)
    edit = {"path": "models/schema.yml", "old": "      - name: city\n        data_tests: [unique]",
            "new": "      - name: city\n        data_tests:\n          - unique:\n              config:\n"
                   "                where: \"{{ var('filter', '1 = 0') }}\""}
    res = apply_file(project, tmp_path, [FIXED, edit])
    assert res.returncode == 2 and sources(project) == files
    assert enabled(parsed(project, tmp_path)) == before


def test_overriding_a_generic_test_through_dispatch_is_refused(warm_project, tmp_path):
    """`duckdb__test_unique` in the project's macros is picked before dbt's own: every unique test passes."""
    project = warm_project("mini")
    (project / "macros").mkdir()
    (project / "macros/helpers.sql").write_text("{% macro double(x) %}({{ x }} * 2){% endmacro %}\n")
    fail_on_record(project, tmp_path)
    before = enabled(parsed(project, tmp_path))
    files = sources(project)
    override = ("{% macro double(x) %}({{ x }} * 2){% endmacro %}\n"
                "{% macro duckdb__test_unique(model, column_name) %}select 1 as n from {{ model }} where 1 = 2{% endmacro %}\n")
    edit = {"path": "macros/helpers.sql", "old": "{% macro double(x) %}({{ x }} * 2){% endmacro %}\n", "new": override}
    res = apply_file(project, tmp_path, [FIXED, edit])
    assert_refused(res, project, files, tmp_path, before, "which tests run; a person must approve")


def test_a_fix_to_a_macro_a_test_runs_needs_a_person(warm_project, tmp_path):
    project = warm_project("mini")
    (project / "macros").mkdir()
    (project / "macros/positive.sql").write_text("{% macro positive_expr(col) %}{{ col }} > 0{% endmacro %}\n")
    (project / "tests/generic").mkdir(parents=True)
    (project / "tests/generic/positive.sql").write_text(
        "{% test positive(model, column_name) %}\nselect * from {{ model }} where not ({{ positive_expr(column_name) }})\n{% endtest %}\n")
    schema = project / "models/schema.yml"
    schema.write_text(schema.read_text().replace("data_tests: [unique, not_null]", "data_tests: [unique, not_null, positive]"))
    fail_on_record(project, tmp_path)
    files = sources(project)
    edit = {"path": "macros/positive.sql", "old": "{{ col }} > 0", "new": "true or {{ col }} > 0"}
    res = apply_file(project, tmp_path, [FIXED, edit])
    assert res.returncode == 2 and "a person must approve" in res.stderr
    assert sources(project) == files


def test_editing_a_singular_test_or_a_seed_is_refused(warm_project, tmp_path):
    project = warm_project("shop")
    assert adp(project, tmp_path, "run", "--no-heal", "--json").returncode == 0
    files = sources(project)
    single = {"path": "tests/assert_paid_not_above_value.sql", "old": "where paid_value > lifetime_value",
              "new": "where false"}
    res = apply_file(project, tmp_path, [single])
    assert res.returncode == 2 and "test-paths" in res.stderr
    seed = sorted((project / "seeds").glob("*.csv"))[0].relative_to(project).as_posix()
    first = (project / seed).read_text().splitlines()[1]
    res = apply_file(project, tmp_path, [{"path": seed, "old": first + "\n", "new": ""}])
    assert res.returncode == 2 and "data file" in res.stderr
    assert sources(project) == files


def test_moving_test_paths_in_dbt_project_yml_is_refused(warm_project, tmp_path):
    project = warm_project("shop")
    assert adp(project, tmp_path, "run", "--no-heal", "--json").returncode == 0
    files = sources(project)
    before = enabled(parsed(project, tmp_path))
    res = apply_file(project, tmp_path, [{"path": "dbt_project.yml", "old": 'test-paths: ["tests"]', "new": 'test-paths: ["nowhere"]'}])
    assert res.returncode == 2 and "test-paths" in res.stderr
    assert sources(project) == files and enabled(parsed(project, tmp_path)) == before


@pytest.mark.parametrize("edit", [
    {"path": "profiles.yml", "old": "path: mini.duckdb", "new": "path: /tmp/elsewhere.duckdb"},
    {"path": "dbt_project.yml", "old": "flags:\n", "new": "vars:\n  country: xx\nflags:\n"},
    {"path": "dbt_project.yml", "old": "flags:\n", "new": "on-run-start: [\"create table if not exists x as select 1\"]\nflags:\n"},
    {"path": "dbt_project.yml", "old": "      +materialized: table\n",
     "new": "      +materialized: table\n      +post-hook: \"delete from {{ this }}\"\n"},
])
def test_project_level_behaviour_cannot_change(broken, tmp_path, edit):
    project, before = broken
    files = sources(project)
    res = apply_file(project, tmp_path, [FIXED, edit])
    assert res.returncode == 2, res.stdout[-1500:]
    assert sources(project) == files


def test_a_fix_that_empties_the_model_is_not_kept(warm_project, tmp_path):
    project = warm_project("mini")
    assert adp(project, tmp_path, "run", "--json").returncode == 0  # the baseline: a good run
    fail_on_record(project, tmp_path)
    model = project / MODEL
    broken_bytes = model.read_bytes()
    for new in ("sum(score) as total_score\nfrom {{ ref('stg_people') }} where 0 = 1\n--",
                "sum(score) as total_score\nfrom {{ ref('stg_people') }}\ngroup by city\nlimit 0\n--"):
        res = apply_file(project, tmp_path, [{"path": MODEL, "old": "sum(scor) as total_score", "new": new}])
        assert res.returncode in (1, 2, 3), res.stdout[-1500:]
        assert not res.json()["fixes"][0]["applied"]
        assert model.read_bytes() == broken_bytes


def test_a_symlinked_model_that_points_at_a_seed_is_never_written(warm_project, tmp_path):
    project = warm_project("mini")
    seed = project / "seeds/people.csv"
    seed_bytes = seed.read_bytes()
    os.symlink("../../../seeds/people.csv", project / "models/marts/finance/x.sql")
    res = adp(project, tmp_path, "run", "--no-heal", "--json")
    assert res.returncode == 1  # dbt reads CSV as SQL: the "model" fails
    header = seed_bytes.decode().splitlines()[0]
    res = apply_file(project, tmp_path, [{"path": "models/marts/finance/x.sql", "old": header, "new": "select 1 as person_id --"}])
    assert res.returncode == 2 and "is a symlink" in res.stderr
    assert seed.read_bytes() == seed_bytes


def test_a_model_under_a_symlinked_directory_is_never_written(warm_project, tmp_path):
    project = warm_project("shop")
    test_file = project / "tests/assert_paid_not_above_value.sql"
    test_bytes = test_file.read_bytes()
    os.symlink("../../tests", project / "models/marts/checks")
    adp(project, tmp_path, "run", "--no-heal", "--json")
    res = apply_file(project, tmp_path, [{"path": "models/marts/checks/assert_paid_not_above_value.sql",
                                          "old": "where paid_value > lifetime_value", "new": "where false"}])
    assert res.returncode == 2 and "is a symlink" in res.stderr
    assert test_file.read_bytes() == test_bytes


def test_a_hard_linked_model_is_never_written(warm_project, tmp_path):
    project = warm_project("mini")
    seed = project / "seeds/people.csv"
    seed_bytes = seed.read_bytes()
    os.link(seed, project / "models/marts/finance/y.sql")
    adp(project, tmp_path, "run", "--no-heal", "--json")
    header = seed_bytes.decode().splitlines()[0]
    res = apply_file(project, tmp_path, [{"path": "models/marts/finance/y.sql", "old": header, "new": "select 1 as a --"}])
    assert res.returncode == 2 and "hard links" in res.stderr
    assert seed.read_bytes() == seed_bytes


def test_an_escaping_path_is_refused_with_exit_2_through_the_script(broken, tmp_path):
    project, before = broken
    files = sources(project)
    path = tmp_path / "escape.json"
    path.write_text(json.dumps({"rule": "agent", "confidence": 0.99, "rationale": "x",
                                "edits": [{"path": "../../../etc/hostname", "old": "a", "new": "b"}]}))
    proc = subprocess.run([sys.executable, str(REPO / "scripts/apply_fix.py"), "apply", "--file", str(path),
                           "--project-dir", str(project), "--profiles-dir", str(project)],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})
    assert proc.returncode == 2, proc.stdout[-1000:]
    assert "inside the dbt project" in proc.stderr
    assert "SUCCESS" not in proc.stdout
    assert sources(project) == files


def test_adp_run_with_an_agent_that_disables_the_model_does_not_heal(warm_project, tmp_path):
    from test_agent_run import agent_proposal, heal_with
    from test_agent import fenced

    answer = fenced(agent_proposal("sum(score) {{ config(enabled=(1 > 2)) }}"))
    res, events, proj, _, broken_text = heal_with(warm_project, tmp_path, "good", answer)
    out = res.json()
    assert res.returncode != 0 and out["status"] != "healed", out["status"]
    assert (proj / "models/marts/finance/city_scores.sql").read_text() == broken_text
    refused = [e for e in events if e["event"] == "fix_refused"]
    assert refused and "disables or removes" in refused[0]["reason"]


# -- rollback ------------------------------------------------------------------------------------


@pytest.fixture
def healed(warm_project, tmp_path):
    """mini healed by `adp run --mode autonomous`: a real run with a real fix and backup."""
    project = warm_project("mini")
    model = project / MODEL
    model.write_text(model.read_text().replace(*TYPO))
    broken_bytes = model.read_bytes()
    res = adp(project, tmp_path, "run", "--mode", "autonomous", "--json")
    assert res.returncode == 0 and res.json()["status"] == "healed", res.stdout[-2000:]
    return project, res.json()["run_id"], broken_bytes


def test_rollback_of_a_healed_run_restores_the_file(healed, tmp_path):
    project, run_id, broken_bytes = healed
    res = adp(project, tmp_path, "fix", "rollback", run_id, "--json")
    assert res.returncode == 0 and res.json()["restored"] == [MODEL]
    assert (project / MODEL).read_bytes() == broken_bytes


@pytest.mark.parametrize("run_id", ["/tmp", "../agent/evil", "20261126T172144-8658e2/../../agent", "agent", ""])
def test_rollback_refuses_what_is_not_a_run_id(healed, tmp_path, run_id):
    project, _, _ = healed
    evil = tmp_path / "logs/agent/evil"
    evil.mkdir(parents=True)
    (evil / "files.json").write_text(json.dumps(["profiles.yml"]))
    (evil / "profiles.yml").write_text("evil: {}\n")
    files = sources(project)
    res = adp(project, tmp_path, "fix", "rollback", run_id)
    assert res.returncode == 2 and "not a run id" in res.stderr
    assert sources(project) == files


def test_rollback_refuses_an_unknown_run_and_a_run_without_fixes(healed, tmp_path):
    project, _, _ = healed
    files = sources(project)
    res = adp(project, tmp_path, "fix", "rollback", "20990101T000000-abcdef")
    assert res.returncode == 2 and "not in the run log" in res.stderr
    green = adp(project, tmp_path, "run", "--json").json()["run_id"]
    res = adp(project, tmp_path, "fix", "rollback", green)
    assert res.returncode == 2 and "applied no fixes" in res.stderr
    assert sources(project) == files


def test_rollback_refuses_a_tampered_backup(healed, tmp_path):
    project, run_id, _ = healed
    [backup] = list((tmp_path / "logs/backups" / run_id).rglob("city_scores.sql"))
    backup.write_text("select * from read_csv('/etc/passwd')\n")
    files = sources(project)
    res = adp(project, tmp_path, "fix", "rollback", run_id)
    assert res.returncode == 2 and "does not match the sha256" in res.stderr
    assert sources(project) == files


def test_rollback_restores_only_what_the_run_log_recorded(healed, tmp_path):
    project, run_id, broken_bytes = healed
    [fix_dir] = list((tmp_path / "logs/backups" / run_id).iterdir())
    (fix_dir / "files.json").write_text(json.dumps(["profiles.yml", "seeds/people.csv", "../outside.txt"]))
    (fix_dir / "profiles.yml").write_text("mini_profile: {}\n")
    (fix_dir / "seeds").mkdir()
    (fix_dir / "seeds/people.csv").write_text("person_id\n")
    profiles, seed = (project / "profiles.yml").read_bytes(), (project / "seeds/people.csv").read_bytes()
    res = adp(project, tmp_path, "fix", "rollback", run_id, "--json")
    assert res.returncode == 0 and res.json()["restored"] == [MODEL]
    assert (project / "profiles.yml").read_bytes() == profiles and (project / "seeds/people.csv").read_bytes() == seed
    assert (project / MODEL).read_bytes() == broken_bytes
    assert not (project.parent / "outside.txt").exists()


def test_rollback_refuses_a_file_changed_since_the_run(healed, tmp_path):
    project, run_id, _ = healed
    (project / MODEL).write_text("select 'edited by a person' as city\n")
    files = sources(project)
    res = adp(project, tmp_path, "fix", "rollback", run_id)
    assert res.returncode == 2 and "changed since run" in res.stderr
    assert sources(project) == files


def test_rollback_through_the_script_refuses_a_forged_backup_folder(healed, tmp_path):
    project, _, _ = healed
    forged = tmp_path / "logs/backups/20261201T000000-aaaaaa"
    (forged / "000-x/models").mkdir(parents=True)
    (forged / "000-x/files.json").write_text(json.dumps(["profiles.yml"]))
    (forged / "000-x/profiles.yml").write_text("x: {}\n")
    files = sources(project)
    proc = subprocess.run([sys.executable, str(REPO / "scripts/apply_fix.py"), "rollback", "20261201T000000-aaaaaa",
                           "--project-dir", str(project), "--profiles-dir", str(project)],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})
    assert proc.returncode == 2 and "not in the run log" in proc.stderr
    assert sources(project) == files
    shutil.rmtree(forged)

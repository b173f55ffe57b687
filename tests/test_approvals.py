"""Approvals that can be taken back: a no at the prompt stays on record and can be applied later; a stale or
superseded proposal is refused (exit 2, the reason on stderr and in JSON); the run JSON says why a proposal
was not applied."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from referencing import Registry, Resource

from adp.cli import main
from conftest import run_adp
from test_modes import TYPO, break_model, run_in_pty

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def human_run(project: Path, cwd: Path, answer: str) -> tuple[int, str]:
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "human-in-loop"]
    return run_in_pty(args, cwd, answer)


def records(cwd: Path) -> list[dict]:
    return run_adp("fix", "list", "--all", "--json", cwd=cwd).json()


def rejected_at_the_prompt(project: Path, cwd: Path) -> tuple[str, dict]:
    """Break the model, answer n at `Apply?`; the proposal's id and its stored record."""
    code, screen = human_run(project, cwd, "n")
    assert code == 3, screen[-3000:]
    [record] = records(cwd)
    pid = record["proposal"]["id"]
    assert f"kept as rejected proposal {pid}" in screen
    return pid, record


def validate_outcome(out: dict) -> None:
    registry = Registry().with_resources(
        (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.schema.json"))
    schema = json.loads((SCHEMAS / "run-outcome.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, registry=registry).validate(out)


@pytest.mark.dbt
def test_no_at_the_prompt_stays_on_record_and_fix_apply_heals_it_later(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    pid, record = rejected_at_the_prompt(project, tmp_path)
    assert (record["status"], record["reason"], record["final"]) == ("rejected", "rejected by the person", False)
    assert run_adp("fix", "list", "--json", cwd=tmp_path).json() == []  # not awaiting approval
    findings = (tmp_path / "logs/findings" / f"{record['run_id']}.md").read_text()
    assert f"`adp fix apply {pid}`" in findings and "<id>" not in findings
    done = run_adp("fix", "apply", pid, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.json()
    assert out["status"] == "healed" and [(f["id"], f["applied"]) for f in out["fixes"]] == [(pid, True)]
    assert TYPO[0] in model.read_text()
    assert [(r["proposal"]["id"], r["status"]) for r in records(tmp_path)] == [(pid, "applied")]


@pytest.mark.dbt
def test_a_proposal_whose_file_changed_by_hand_is_refused(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    pid, _ = rejected_at_the_prompt(project, tmp_path)
    model.write_text(model.read_text().replace(TYPO[1], "sum(score) -- fixed by hand"))
    by_hand = model.read_bytes()
    res = run_adp("fix", "apply", pid, cwd=tmp_path)
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    assert f"proposal {pid} is stale" in res.stderr and "city_scores.sql` changed since" in res.stderr
    assert "Binder Error" not in res.stdout + res.stderr  # the old error is not shown as if current
    as_json = run_adp("fix", "apply", pid, "--json", cwd=tmp_path)
    out = as_json.json()
    assert as_json.returncode == 2 and out["status"] == "refused" and "stale" in out["error"]
    assert out["fixes"][0]["refused"] == out["error"] and out["nodes"] == []
    validate_outcome(out)
    assert model.read_bytes() == by_hand
    assert not (tmp_path / "logs/backups").exists()


@pytest.mark.dbt
def test_a_later_run_that_heals_the_node_supersedes_the_proposal(warm_project, tmp_path):
    project = warm_project("mini")
    model = break_model(project)
    pid, _ = rejected_at_the_prompt(project, tmp_path)
    healed = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "autonomous",
                     "--json", cwd=tmp_path)
    assert healed.returncode == 0 and healed.json()["status"] == "healed", healed.stdout[-2000:]
    fixed = model.read_bytes()
    [record] = records(tmp_path)
    assert record["status"] == "superseded" and healed.json()["run_id"] in record["reason"]
    listed = run_adp("fix", "list", "--all", cwd=tmp_path).stdout
    assert f"{pid}  superseded" in listed
    res = run_adp("fix", "apply", pid, cwd=tmp_path)
    assert res.returncode == 2 and f"proposal {pid} was superseded" in res.stderr, res.stderr[-2000:]
    assert model.read_bytes() == fixed


@pytest.mark.dbt
def test_the_run_json_says_why_each_proposal_was_not_applied(warm_project, tmp_path):
    project = warm_project("mini")
    break_model(project)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/execution_mode.yml").write_text("autonomous:\n  min_confidence: 0.99\n")
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project), "--json"]
    auto = run_adp(*args, "--mode", "autonomous", cwd=tmp_path)
    assert auto.returncode == 3, auto.stdout[-2000:]
    out = auto.json()
    validate_outcome(out)
    [held] = out["not_applied"]
    assert held["rule"] == "column_typo" and held["node"] == "model.mini.city_scores"
    assert held["file"] == "models/marts/finance/city_scores.sql" and 0 < held["confidence"] < 0.99
    assert (held["reason"], held["status"], held["path"]) == ("below threshold 0.99", None, None)
    asked = run_adp(*args, "--mode", "human-in-loop", cwd=tmp_path).json()
    validate_outcome(asked)
    [pending] = asked["not_applied"]
    assert (pending["id"], pending["reason"], pending["status"]) == (held["id"], "awaiting approval", "pending")
    assert asked["proposals"] == [pending["path"]]


def test_an_unknown_proposal_id_is_exit_2_and_names_the_closest(tmp_path):
    res = run_adp("fix", "apply", "nope", cwd=tmp_path)
    assert res.returncode == 2 and "no proposal `nope`" in res.stderr and "adp fix list --all" in res.stderr
    (tmp_path / "logs/proposals").mkdir(parents=True)
    (tmp_path / "logs/proposals/3f2a9c1e0412.json").write_text("{}")
    res = run_adp("fix", "apply", "3f2a9c1e041", cwd=tmp_path)
    assert res.returncode == 2 and "did you mean `3f2a9c1e0412`?" in res.stderr
    assert run_adp("fix", "reject", "nope", cwd=tmp_path).returncode == 2


def test_fix_apply_help_names_the_refusals():
    text = " ".join(CliRunner().invoke(main, ["fix", "apply", "--help"]).output.split())
    assert "rejected at the prompt" in text
    assert "2 unknown id, malformed, stale, superseded or refused proposal" in text

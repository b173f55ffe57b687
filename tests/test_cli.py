"""The command line's surface: help texts with exit codes, errors as JSON under --json, unknown ids exit 2
everywhere, `adp history` newest first in aligned columns, `adp validate` naming its baseline, `adp inspect`
showing tests and compiled SQL."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from adp.cli import main
from adp.runlog import RunLog
from conftest import dbt_build, run_adp

RUN_ID = "20261126T172144-8658e2"  # well-formed, but no run of these tests


def invoke(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args))
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(main, list(args))


def commands(group: click.Group = main, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*prefix, name))


# --- help -----------------------------------------------------------------------------------------------------
def test_top_level_help_lists_every_command_whole_with_examples_and_exit_codes():
    res = invoke("--help")
    assert res.exit_code == 0
    listing = res.output.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.match(r"  (\S+)\s+(.*)", line).groups() for line in listing.splitlines())
    assert set(rows) == set(main.commands)
    for name, text in rows.items():
        assert not text.endswith("...") and text == main.commands[name].get_short_help_str(limit=1000), (name, text)
    assert "Examples:" in res.output and "adp fix apply <id>" in res.output
    codes = res.output.split("Exit codes", 1)[1]
    for code in ("0 ", "1 ", "2 ", "3 ", "130/143 "):
        assert f"\n    {code}" in codes, code
    assert '{"error": ..., "exit_code": ...}' in res.output


CLAUDE_OWNED = {("claude",), ("claude", "install")}  # src/adp/cli/claude.py: its help is its owner's


@pytest.mark.parametrize("path", [p for p, _ in commands() if p not in CLAUDE_OWNED], ids=" ".join)
def test_every_commands_help_gives_its_exit_codes_and_an_example(path):
    res = invoke(*path, "--help")
    assert res.exit_code == 0, res.output
    assert re.search(r"Exit: 0 ", res.output), res.output
    assert "Example: adp " in res.output


# --- errors: JSON under --json, exit 2 for an unknown id everywhere --------------------------------------------
def test_an_error_under_json_is_one_json_object_on_stdout(tmp_path):
    res = invoke("fix", "apply", "nope", "--json", "--log-dir", str(tmp_path / "logs"))
    assert res.exit_code == 2
    out = json.loads(res.stdout)
    assert set(out) == {"error", "exit_code"} and out["exit_code"] == 2
    assert out["error"].startswith("no proposal `nope` in ")
    plain = invoke("fix", "apply", "nope", "--log-dir", str(tmp_path / "logs"))
    assert plain.exit_code == 2 and plain.stdout == "" and plain.stderr.startswith("Error: no proposal `nope`")


def test_a_usage_error_of_the_command_is_json_too_under_json(tmp_path):
    res = invoke("fix", "apply", "--json", "--log-dir", str(tmp_path / "logs"))
    assert res.exit_code == 2
    assert json.loads(res.stdout) == {"error": "give a proposal id or --file, not both", "exit_code": 2}


@pytest.mark.parametrize("args", [
    ("fix", "apply", "0123456789ab"),
    ("fix", "reject", "0123456789ab"),
    ("fix", "rollback", "not-a-run"),
    ("fix", "rollback", RUN_ID),
])
def test_an_unknown_proposal_or_run_id_is_exit_2(tmp_path, args):
    logs = str(tmp_path / "logs")
    for extra in ((), ("--json",)):
        res = invoke(*args, "--log-dir", logs, *extra)
        assert res.exit_code == 2, res.output
        if extra:
            assert json.loads(res.stdout)["exit_code"] == 2
        else:
            assert res.stderr.startswith("Error: ") and args[-1] in res.stderr


@pytest.mark.dbt
@pytest.mark.parametrize("args", [("diagnose", "--run-id", RUN_ID), ("inspect", "city_scores", "--run-id", RUN_ID),
                                  ("inspect", "city_scorez")])
def test_an_unknown_run_id_or_node_is_exit_2_in_diagnose_and_inspect(warm_project, tmp_path, args):
    project = warm_project("mini")
    where = ("--project-dir", str(project), "--profiles-dir", str(project), "--log-dir", str(tmp_path / "logs"))
    res = invoke(*args, *where)
    assert res.exit_code == 2, res.output
    assert (RUN_ID if RUN_ID in args else "Did you mean `city_scores`?") in res.stderr
    as_json = invoke(*args, *where, "--json")
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["exit_code"] == 2


# --- adp history ------------------------------------------------------------------------------------------------
def test_history_lists_newest_first_in_aligned_columns(tmp_path):
    runs = [("r1", "success", 1, 3.5, 0, 0), ("20261202T080000-abcdef", "needs_review", 2, 120.25, 1, 0),
            ("r3", "healed", 12, 7.0, 0, 1)]
    for run_id, status, attempts, secs, failed, fixes in runs:
        log = RunLog(tmp_path, run_id)
        log.emit("run_started", project_dir="/p")
        for _ in range(fixes):
            log.emit("fix_applied", proposal_id="x")
        log.emit("run_finished", status=status, attempts=attempts, duration=secs, failed_nodes=failed)
    res = invoke("history", "--log-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    header, *rows = res.output.splitlines()
    assert [r.split()[0] for r in rows] == ["r3", "20261202T080000-abcdef", "r1"]
    assert [r.split()[2] for r in rows] == ["healed", "needs_review", "success"]
    starts = {name: header.index(name) for name in ("started", "status")}
    for row in rows:  # left-aligned text columns start under their header
        cells = re.finditer(r"\S+", row)
        assert [m.start() for m in cells][1:3] == [starts["started"], starts["status"]], (header, row)
    ends = [m.end() for m in re.finditer(r"\S+", header)][3:]  # right-aligned numbers end under theirs
    for row in rows:
        assert [m.end() for m in re.finditer(r"\S+", row)][3:] == ends, (header, row)
    assert json.loads(invoke("history", "--log-dir", str(tmp_path), "--json").stdout)[0]["run_id"] == "r1"


def test_history_without_runs_says_so(tmp_path):
    res = invoke("history", "--log-dir", str(tmp_path))
    assert res.exit_code == 0 and res.output.startswith("No runs in ")


# --- adp validate and adp inspect on a real project -------------------------------------------------------------
@pytest.mark.dbt
def test_validate_names_the_baseline_and_suggests_accept_on_drift(warm_project, tmp_path):
    project = warm_project("mini")
    where = ("--project-dir", str(project), "--profiles-dir", str(project))
    green = run_adp("run", *where, "--json", cwd=tmp_path)
    assert green.returncode == 0, green.stdout[-2000:] + green.stderr[-2000:]
    run_id = green.json()["run_id"]
    clean = run_adp("validate", *where, cwd=tmp_path)
    assert clean.returncode == 0 and clean.stdout.splitlines()[0] == f"baseline: run {run_id}"
    assert "--accept" not in clean.stdout
    seed = project / "seeds/people.csv"
    seed.write_text("\n".join(seed.read_text().splitlines()[:3]) + "\n")  # 4 people -> 2
    assert dbt_build(project).returncode == 0
    drift = run_adp("validate", *where, cwd=tmp_path)
    assert drift.returncode == 1, drift.stdout
    lines = drift.stdout.splitlines()
    assert lines[0] == f"baseline: run {run_id}"
    assert any(line.startswith("ERROR") and "went from 4 to 2 rows" in line for line in lines), lines
    assert re.search(rf"\d+ change\(s\) against run {run_id}\. If they are intended, `adp validate --accept` makes", drift.stdout)
    accepted = run_adp("validate", *where, "--accept", cwd=tmp_path)
    assert accepted.returncode == 0
    after = run_adp("validate", *where, cwd=tmp_path)
    assert after.returncode == 0 and after.stdout.startswith("baseline: run accepted-"), after.stdout


@pytest.mark.dbt
def test_inspect_lists_its_tests_by_name_and_shows_the_compiled_sql(warm_project, tmp_path):
    project = warm_project("mini")
    res = invoke("inspect", "city_scores", "--project-dir", str(project), "--profiles-dir", str(project),
                 "--log-dir", str(tmp_path / "logs"))
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    tests = lines.index("  tests (1):")
    assert lines[tests + 1].startswith("    test.mini.unique_city_scores_city.")
    compiled = (project / "target/compiled/mini/models/marts/finance/city_scores.sql").read_text().strip()
    sql = lines.index("  compiled SQL:")
    assert "\n".join(line[4:] for line in lines[sql + 1:]) == compiled
    assert "{{ ref(" not in "\n".join(lines[sql + 1:])

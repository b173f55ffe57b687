"""Causes across runs: a column a parent had at the last good run and has no more is the parent's change.

Two real `adp run`s share one log directory (its history.duckdb): a green run records every relation's
columns, then a parent model renames a column its child reads. The diagnosis names the parent, its file
and the last good run; the run stops for a person and no file changes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import run_adp

pytestmark = pytest.mark.dbt

PARENT = "models/staging/core/stg_people.sql"


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not {"target", "logs"} & set(p.relative_to(root).parts)
            and ".duckdb" not in p.name}


def test_a_column_renamed_in_the_parent_escalates_on_the_parent(warm_project, tmp_path):
    project = warm_project("mini")
    args = ("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "autonomous", "--json")
    green = run_adp(*args, cwd=tmp_path)
    assert green.returncode == 0, green.stderr[-2000:]
    assert (tmp_path / "logs" / "history.duckdb").is_file()

    parent = project / PARENT
    parent.write_text(parent.read_text(encoding="utf-8").replace("city,", "city as city_name,"), encoding="utf-8")
    before = files(project)
    # the pre-flight binds the parent as it will be, and diagnosis reads those columns, not the warehouse's old ones
    checked = run_adp("check", "--project-dir", str(project), "--profiles-dir", str(project), "--json", cwd=tmp_path)
    found = checked.json()["diagnoses"]
    assert checked.returncode == 1 and [(d["category"], d["file"]) for d in found] == [("sql.column_not_found", PARENT)]
    assert checked.json()["proposals"] == []
    res = run_adp(*args, cwd=tmp_path)
    out = res.json()

    assert res.returncode == 3, f"{out['status']}\n{res.stderr[-2000:]}"
    assert out["status"] == "needs_review"
    d = out["diagnoses"][0]
    assert (d["category"], d["file"], d["root_cause_node"]) == ("sql.column_not_found", PARENT, "model.mini.stg_people")
    assert d["identifier"] == "city" and d["candidates"] == []
    assert d["details"]["failed_node"] == "model.mini.city_scores"
    assert d["details"]["failed_file"] == "models/marts/finance/city_scores.sql"
    assert d["details"]["renamed_to"] == "city_name"
    assert d["details"]["last_good_run"] in d["summary"] and "`city_name`" in d["summary"]
    assert not any(f["applied"] for f in out["fixes"])
    assert files(project) == before, "an upstream change must not be 'fixed' in its children"


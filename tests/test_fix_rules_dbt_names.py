"""Names dbt resolves through Jinja, healed with the real dbt and DuckDB on a tiny project with a local package.

A misspelled macro of an installed package (`mypkg.safe_divde`) is fixed in the model, never in the package;
a macro typo in an ephemeral model (which has no result of its own: dbt skips its children) is located in the
ephemeral model; a misspelled var() is fixed among the vars dbt_project.yml declares.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import dbt_bin, run_adp

pytestmark = pytest.mark.dbt

PACKAGE = {
    "dbt_project.yml": 'name: mypkg\nversion: "1.0.0"\nconfig-version: 2\n',
    "macros/safe.sql": "{% macro safe_divide(a, b) %}({{ a }}) / nullif({{ b }}, 0){% endmacro %}\n"
                       "{% macro cents(x) %}({{ x }}) * 100{% endmacro %}\n",
}
PROJECT = {
    "dbt_project.yml": 'name: names\nversion: "1.0.0"\nconfig-version: 2\nprofile: names\n'
                       "flags:\n  send_anonymous_usage_stats: false\nvars:\n  start_date: '2024-01-01'\n",
    "profiles.yml": "names:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: names.duckdb\n      threads: 1\n",
    "packages.yml": "packages:\n  - local: ../mypkg\n",
    "macros/days.sql": "{% macro days_between(a, b) %}date_diff('day', {{ a }}, {{ b }}){% endmacro %}\n",
    "models/base.sql": "select 1 as a, 4 as b, date '2024-01-01' as opened_on, date '2024-02-01' as closed_on\n",
    "models/ratio.sql": "select\n    {{ mypkg.safe_divide('a', 'b') }} as r\nfrom {{ ref('base') }}\n",
    "models/spans.sql": "{{ config(materialized='ephemeral') }}\nselect\n    a,\n"
                        "    {{ days_between('opened_on', 'closed_on') }} as open_days\nfrom {{ ref('base') }}\n",
    "models/span_report.sql": "select a, open_days from {{ ref('spans') }}\n",
    "models/dated.sql": "select a from {{ ref('base') }}\nwhere opened_on >= cast('{{ var(\"start_date\") }}' as date)\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def _built(tmp_path_factory) -> Path:
    """The package beside the project, installed with `dbt deps` (offline: a local package) and built once."""
    root = tmp_path_factory.mktemp("names")
    _write(root / "mypkg", PACKAGE)
    _write(root / "names", PROJECT)
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    for command in ("deps", "build"):
        proc = subprocess.run([dbt_bin(), command, "--project-dir", ".", "--profiles-dir", "."], cwd=root / "names",
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:]
    return root


@pytest.fixture
def project(_built, tmp_path) -> Path:
    shutil.copytree(_built, tmp_path / "w")
    return tmp_path / "w" / "names"


def tree(root: Path) -> dict[str, str]:
    """Hash of every file adp may not touch or must restore (dbt's outputs and the warehouse aside)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and not {"target", "logs"} & set(p.relative_to(root).parts) and ".duckdb" not in p.name}


def fault(project: Path, rel: str, old: str, new: str) -> None:
    text = (project / rel).read_text(encoding="utf-8")
    assert text.count(old) == 1
    (project / rel).write_text(text.replace(old, new), encoding="utf-8")


def heal(project: Path) -> dict:
    res = run_adp("run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode", "autonomous", "--json",
                  cwd=project.parent, timeout=600)
    assert res.stdout.strip(), res.stderr[-3000:]
    out = res.json()
    assert res.returncode == 0 and out["status"] == "healed", f"{out['status']}\n{res.stderr[-2000:]}"
    return out


def test_a_package_macro_typo_is_fixed_in_the_model_and_never_in_the_package(project):
    original = tree(project.parent)
    fault(project, "models/ratio.sql", "mypkg.safe_divide(", "mypkg.safe_divde(")
    out = heal(project)
    d = out["diagnoses"][0]
    assert (d["category"], d["identifier"], d["file"], d["line"]) == (
        "dbt.macro_undefined", "mypkg.safe_divde", "models/ratio.sql", 2)
    assert d["candidates"][0]["name"] == "mypkg.safe_divide"
    assert {c["name"].split(".")[0] for c in d["candidates"]} == {"mypkg"}
    assert [f["file"] for f in out["fixes"] if f["applied"]] == ["models/ratio.sql"]
    assert tree(project.parent) == original, "the model is restored; the package (its source and dbt_packages/) is untouched"


def test_a_macro_typo_in_an_ephemeral_model_is_located_there(project):
    original = tree(project.parent)
    fault(project, "models/spans.sql", "days_between(", "days_betwen(")
    out = heal(project)
    d = out["diagnoses"][0]
    assert (d["category"], d["identifier"], d["candidates"][0]["name"]) == ("dbt.macro_undefined", "days_betwen", "days_between")
    assert (d["node"], d["root_cause_node"], d["file"], d["line"]) == (
        "model.names.spans", "model.names.spans", "models/spans.sql", 4)
    assert tree(project.parent) == original


def test_a_misspelled_var_is_fixed_among_the_declared_vars(project):
    original = tree(project.parent)
    fault(project, "models/dated.sql", 'var("start_date")', 'var("strat_date")')
    out = heal(project)
    d = out["diagnoses"][0]
    assert (d["category"], d["identifier"], d["file"], d["line"]) == ("dbt.var_missing", "strat_date", "models/dated.sql", 2)
    assert d["candidates"][0]["name"] == "start_date"
    assert tree(project.parent) == original


LOOP_BODY_CLEAR = """select
    account_id,
    {% for field in var('fields') %}
    coalesce(sum({{ field }}_amount), 0) as {{ field }}_total,
    coalesce(sum("Net Amount"), 0) as "Net Amount",
    count(*) as invoice_count
from {{ ref('invoices') }}
group by 1
"""
LOOP_BODY_GUESS = """select
    {% for m in ms %}
    sum(x) as total,
    count(*) as n,
    1 as one
from t
"""


@pytest.mark.parametrize("text, line, clear", [(LOOP_BODY_CLEAR, 5, True), (LOOP_BODY_GUESS, 4, False)], ids=["clear", "guess"])
def test_a_missing_endfor_goes_where_the_loop_renders_to_sql_that_parses(text, line, clear, tmp_path):
    """Only one place renders (its body ends on a line reading the loop): applied; several: a person decides."""
    from adp.fixes.context import FixContext
    from adp.fixes.templates import jinja_missing_end_tag
    from adp.models import Diagnosis
    from adp.project import DbtProject

    _write(tmp_path, {**{k: v for k, v in PROJECT.items() if k in ("dbt_project.yml", "profiles.yml")}, "models/m.sql": text})
    d = Diagnosis(category="dbt.jinja_syntax", summary="missing endfor", file="models/m.sql")
    (p,) = jinja_missing_end_tag(d, FixContext(DbtProject.open(tmp_path, tmp_path)))
    fixed = text.replace(p.edits[0].old, p.edits[0].new, 1).splitlines()
    assert fixed[line - 1] == "    {% endfor %}" and len(fixed) == len(text.splitlines()) + 1
    assert p.needs_review is not clear and (p.confidence >= 0.8) is clear

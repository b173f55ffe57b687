"""The compiled SQL <-> Jinja source map: loops, branches, whitespace control, ephemeral CTEs, macro calls."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dbt.artifacts.resources import InjectedCTE
from dbt.compilation import inject_ctes_into_sql

from adp.artifacts import Manifest
from adp.diagnose import diagnose
from adp.diagnose.locate import CompiledMap, SourceEdit
from adp.diagnose.sourcemap import SourceMap, scan
from adp.models import NodeResult, RunResult
from adp.project import DbtProject

LOOP = """{{ config(materialized='table') }}

select
    account_id,
    {%- for metric in ['gross', 'net'] %}
    sum({{ metric }}_amount) as {{ metric }}_totl,
    {%- endfor %}
    count(*) as n
from {{ ref('invoices') }}
"""
LOOP_SQL = """

select
    account_id,
    sum(gross_amount) as gross_totl,
    sum(net_amount) as net_totl,
    count(*) as n
from "db"."main"."invoices\""""


def _at(text: str, fragment: str, nth: int = 0) -> int:
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(fragment, pos + 1)
    return pos


def test_a_loop_body_maps_every_copy_to_its_one_literal():
    m = SourceMap.build(LOOP, LOOP_SQL)
    at = _at(LOOP, "_totl")
    assert m.exact
    assert [LOOP_SQL[s:e] for s, e in m.copies(at, at + 5)] == ["_totl", "_totl"]
    assert m.literal_spans(_at(LOOP_SQL, "net_totl"), _at(LOOP_SQL, "net_totl") + 8) == [(at, at + 5)]
    assert m.apply([(at, at + 5, "_total")]) == LOOP_SQL.replace("_totl", "_total")


def test_lines_map_past_config_and_jinja_lines():
    m = CompiledMap.build(LOOP, LOOP_SQL)
    lines = LOOP_SQL.split("\n")
    assert m.origin_of_line(lines.index("    sum(net_amount) as net_totl,") + 1).line == 6  # the loop body's line
    assert m.origin_of_line(lines.index("    count(*) as n") + 1).line == 8
    assert m.origin_of_line(1).line == 1  # the config() call wrote the empty first line


def test_an_if_branch_not_taken_has_no_copy():
    source = "select 1\n{% if is_incremental() %}where a > 0{% else %}where b > 0{% endif %}\n"
    m = SourceMap.build(source, "select 1\nwhere b > 0")
    assert m.exact
    assert m.copies(_at(source, "a > 0"), _at(source, "a > 0") + 1) == []
    assert m.source_offset(_at("select 1\nwhere b > 0", "b")) == _at(source, "b > 0")
    assert m.apply([(_at(source, "a > 0"), _at(source, "a > 0") + 1, "c")]) == "select 1\nwhere b > 0"


def test_whitespace_control_trims_the_literals():
    source = "select\n    {%- if true -%}\n    a\n    {%- endif %}\nfrom t"
    assert [source[s.start:s.end] for s in scan(source) if s.kind == "literal"] == ["select", "a", "\nfrom t"]
    m = SourceMap.build(source, "selecta\nfrom t")
    assert m.exact and m.source_offset(6) == source.index("a\n")


def test_comments_sets_and_raw_blocks_emit_what_jinja_emits():
    source = "{# note #}{% set x = 1 %}{% set block %}dropped{% endset %}select {% raw %}{{ kept }}{% endraw %}"
    m = SourceMap.build(source, "select {{ kept }}")
    assert m.exact and m.source_offset(7) == source.index("{{ kept }}")


def test_a_template_that_does_not_match_falls_back_to_difflib():
    m = SourceMap.build("select a, b from t\n", "select a, c from t")
    assert not m.exact
    assert m.source_offset(len("select a, c from ")) == len("select a, b from ")


def test_a_string_in_a_loop_list_changes_each_output_of_the_loop_variable():
    source = "{% for m in ['stg_a', 'stg_bb'] %}select * from {{ m }}\n{% endfor %}"
    compiled = "select * from stg_a\nselect * from stg_bb\n"
    m = CompiledMap.build(source, compiled)
    edit = m.source_edit(_at(compiled, "stg_bb"), _at(compiled, "stg_bb") + 6, "stg_b")
    assert edit == SourceEdit("", _at(source, "stg_bb") + 5, _at(source, "stg_bb") + 6, "")
    assert m.apply([edit]) == "select * from stg_a\nselect * from stg_b\n"


def test_a_name_built_by_jinja_edits_the_literal_once():
    m = CompiledMap.build(LOOP, LOOP_SQL)
    at = _at(LOOP_SQL, "gross_totl")
    edit = m.source_edit(at, at + len("gross_totl"), "gross_total")
    assert (edit.start, edit.new) == (_at(LOOP, "_totl") + 4, "a")
    assert m.origin(at + 6).line == 6 and m.origin(at).tag == "{{ metric }}"
    assert m.apply([edit]) == LOOP_SQL.replace("_totl", "_total")
    in_list = m.source_edit(at, at + 5, "grss")  # in `{{ metric }}`'s output: the loop list's string
    assert (in_list.start, in_list.new) == (_at(LOOP, "'gross'") + 3, "")


@pytest.fixture
def manifest(tmp_path: Path):
    """A project with an ephemeral model, a model using it and a macro, and its manifest."""
    files = {
        "models/base.sql": "{{ config(materialized='ephemeral') }}\nselect id, stat\nfrom raw\n",
        "macros/money.sql": "{% macro money(col) -%}\n    round({{ col }} / 100.0, 2)\n{%- endmacro %}\n",
        "models/report.sql": "select\n    id,\n    {{ money('amount') }} as dollars\nfrom {{ ref('base') }}\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    base_sql = "\nselect id, stat\nfrom raw"
    cte = InjectedCTE(id="model.p.base", sql=f" __dbt__cte__base as (\n{base_sql}\n)")
    report_sql = inject_ctes_into_sql("select\n    id,\n    round(amount / 100.0, 2) as dollars\nfrom __dbt__cte__base", [cte])
    nodes = {
        "model.p.base": {"original_file_path": "models/base.sql", "compiled_code": base_sql, "raw_code": files["models/base.sql"]},
        "model.p.report": {"original_file_path": "models/report.sql", "compiled_code": report_sql,
                           "extra_ctes": [{"id": cte.id, "sql": cte.sql}]},
    }
    macros = {"macro.p.money": {"name": "money", "unique_id": "macro.p.money", "package_name": "p",
                                "original_file_path": "macros/money.sql"}}
    (tmp_path / "target").mkdir()
    data = {"metadata": {"project_name": "p"}, "nodes": nodes, "macros": macros}
    (tmp_path / "target" / "manifest.json").write_text(json.dumps(data))
    return Manifest(tmp_path / "target"), lambda rel: (tmp_path / rel).read_text() if rel and (tmp_path / rel).is_file() else None


def test_an_ephemeral_cte_maps_to_the_ephemeral_model(manifest):
    m = CompiledMap.for_node(*manifest[:1], "model.p.report", manifest[1])
    origin = m.origin(m.compiled.index("stat"))
    assert (origin.node, origin.file, origin.line) == ("model.p.base", "models/base.sql", 2)
    assert m.origin(m.compiled.index("dollars")).file == "models/report.sql"
    edit = m.source_edit(m.compiled.index("stat"), m.compiled.index("stat") + 4, "status")
    assert edit.file == "models/base.sql"
    assert "select id, status\n" in m.apply([edit])


def test_a_macro_call_maps_into_the_macro_and_its_arguments_to_the_call(manifest):
    m = CompiledMap.for_node(*manifest[:1], "model.p.report", manifest[1])
    inside = m.origin(m.compiled.index("round"))
    assert (inside.node, inside.file, inside.line, inside.macro) == ("macro.p.money", "macros/money.sql", 2, "macro.p.money")
    argument = m.origin(m.compiled.index("amount"))
    assert (argument.file, argument.line, argument.macro) == ("models/report.sql", 3, "macro.p.money")
    assert argument.tag == "{{ money('amount') }}"
    assert m.origin_of_line(m.compiled[:m.compiled.index("round")].count("\n") + 1).file == "macros/money.sql"
    source = manifest[1]("models/report.sql")
    argument_edit = SourceEdit("models/report.sql", source.index("amount"), source.index("amount") + 6, "cents")
    assert "round(cents / 100.0, 2) as dollars" in m.apply([argument_edit])  # what the macro printed of it


def test_a_diagnosis_at_the_engines_compiled_line_names_the_source_line(tmp_path):
    """The engine quotes a line Jinja wrote (`LINE 5: ... gross_totl,`): the diagnosis gives the loop body's line."""
    root = tmp_path / "shop"
    shutil.copytree(Path(__file__).parent / "projects" / "shop", root, ignore=shutil.ignore_patterns("target", "*.duckdb", "logs"))
    (root / "models" / "metrics.sql").write_text(LOOP)
    uid = "model.shop.metrics"
    node = {"unique_id": uid, "name": "metrics", "resource_type": "model", "original_file_path": "models/metrics.sql",
            "raw_code": LOOP, "compiled_code": LOOP_SQL}
    (root / "target").mkdir()
    (root / "target" / "manifest.json").write_text(json.dumps({"metadata": {"project_name": "shop"}, "nodes": {uid: node}}))
    message = ('Runtime Error in model metrics (models/metrics.sql)\n  Parser Error: syntax error at or near "gross_totl"\n\n'
               "  LINE 5:     sum(gross_amount) as gross_totl,\n                                  ^")
    result = RunResult("i", 1, "node", ["build"], [NodeResult(uid, "metrics", "model", "error", message, "models/metrics.sql")])
    [d] = diagnose(result, DbtProject.open(root, root))
    assert (d.file, d.line, d.details["compiled_line"]) == ("models/metrics.sql", 6, 5)

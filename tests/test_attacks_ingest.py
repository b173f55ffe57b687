"""Attacks on ingestion and its config (issue 15): each is refused or reported through the real CLI, with one
message naming the file and the key or line, the right exit code, and the tables loaded before left intact."""
from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml

from adp.yaml_load import DuplicateKeyError, describe, load_yaml
from conftest import run_adp
from ingest_helpers import make_repo, write_sources

ONE = """
project: dbt
sources:
  files:
    a: {path: data/a, pattern: "*.csv", table: orders}
"""


def cli(root: Path) -> list[str]:
    return ["--project-dir", str(root / "dbt"), "--profiles-dir", str(root / "dbt"),
            "--config-dir", str(root / "config"), "--log-dir", str(root / "logs")]


def ingest(root: Path, *args: str):
    return run_adp("ingest", *args, *cli(root), cwd=root)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def touch_later(path: Path) -> None:
    """Move the mtime on, so a rewrite within the same clock tick still reads as changed."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def wh(root: Path) -> Path:
    return root / "dbt" / "wh.duckdb"


def rows(root: Path, table: str) -> list[tuple]:
    """Every row with its metadata (`_load_id`, `_loaded_at`): equal lists mean the table was not reloaded."""
    with duckdb.connect(str(wh(root)), read_only=True) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loaded_repo(tmp_path: Path, yml: str = ONE) -> tuple[list[tuple], str]:
    """A repo whose raw.orders holds two rows from source `a`; returns (its rows, the DuckDB file's hash)."""
    make_repo(tmp_path, yml)
    write(tmp_path / "data" / "a" / "orders.csv", "id,amount\n1,10\n2,20\n")
    first = ingest(tmp_path, "--all", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    before = rows(tmp_path, "raw.orders")
    assert len(before) == 2
    return before, digest(wh(tmp_path))


# --- 1. two sources into one table ----------------------------------------------------------------

@pytest.mark.parametrize("second, key", [
    ('b: {path: data/b, pattern: "*.csv", table: orders}', "sources.files.b.table"),  # exact
    ('b: {path: data/b, pattern: "*.csv", table: Orders}', "sources.files.b.table"),  # DuckDB ignores case
    ('b: {path: data/b, pattern: "*.csv", table: ORDERS, schema: RAW}', "sources.files.b.table"),
    ('b: {path: data/b, pattern: orders.csv}', "sources.files.b.pattern"),  # no wildcard: the stem is the table
])
def test_two_file_sources_into_one_table_is_a_config_error(tmp_path, second, key):
    before, db = loaded_repo(tmp_path)
    write(tmp_path / "data" / "b" / "orders.csv", "id,amount\n9,90\n")
    write_sources(tmp_path, ONE + f"    {second}\n")

    for args in (("--all",), ("b",), ("a", "--json")):
        refused = ingest(tmp_path, *args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "sources.yml" in refused.stderr
        assert f"`{key}`" in refused.stderr and "`sources.files.a.table`" in refused.stderr
        assert "raw.orders" in refused.stderr
    ran = run_adp("run", "--no-heal", "--json", *cli(tmp_path), cwd=tmp_path)
    assert ran.returncode == 2 and "sources.files.a.table" in ran.stderr and "sources.files.b" in ran.stderr
    assert rows(tmp_path, "raw.orders") == before
    assert digest(wh(tmp_path)) == db  # refused before the DuckDB file was even opened


def test_an_api_endpoint_and_a_file_source_into_one_table_is_a_config_error(tmp_path):
    before, db = loaded_repo(tmp_path)
    write_sources(tmp_path, ONE + """\
  apis:
    shop:
      base_url: "http://127.0.0.1:9"
      endpoints:
        - {name: customers, path: /customers}
        - {name: orders_api, path: /orders, table: ORDERS}
""")
    refused = ingest(tmp_path, "--all")
    assert refused.returncode == 2
    assert "`sources.apis.shop.endpoints[1]`" in refused.stderr and "`sources.files.a.table`" in refused.stderr
    assert rows(tmp_path, "raw.orders") == before and digest(wh(tmp_path)) == db


def test_a_glob_finding_a_file_named_like_another_sources_table_is_refused_before_any_load(tmp_path):
    """The per-file table (from the stem) is known only once the glob ran: refused when planning."""
    before, db = loaded_repo(tmp_path)
    write(tmp_path / "data" / "b" / "Orders.csv", "id,amount\n9,90\n")
    write(tmp_path / "data" / "b" / "customers.csv", "id\n1\n")
    write_sources(tmp_path, ONE + '    b: {path: data/b, pattern: "*.csv"}\n')

    for args in (("--all",), ("b",)):  # naming only `b` does not hide the clash with `a`
        refused = ingest(tmp_path, *args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "sources.yml" in refused.stderr and "`sources.files.b`" in refused.stderr
        assert "`sources.files.a`" in refused.stderr and "Orders.csv" in refused.stderr
    assert rows(tmp_path, "raw.orders") == before and digest(wh(tmp_path)) == db
    with duckdb.connect(str(wh(tmp_path)), read_only=True) as conn:  # nothing of `b` was loaded either
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'customers'").fetchone() == (0,)


def test_two_files_of_one_source_with_the_same_table_name_fail_that_source(tmp_path):
    make_repo(tmp_path, 'sources:\n  files:\n    s: {path: data, pattern: "*.csv"}\n')
    write(tmp_path / "data" / "a-b.csv", "x\n1\n")
    write(tmp_path / "data" / "a_b.csv", "x\n2\n")

    out = ingest(tmp_path, "--all", "--json")

    assert out.returncode == 1
    (load,) = out.json()["loads"]
    assert load["status"] == "error" and "a-b.csv" in load["error"] and "a_b.csv" in load["error"]
    assert "raw.a_b" in load["error"]


def test_a_disabled_source_does_not_clash(tmp_path):
    before, _ = loaded_repo(tmp_path)
    write_sources(tmp_path, ONE + '    old: {enabled: false, path: data/old, table: orders}\n')
    out = ingest(tmp_path, "--all", "--json")
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("table", ["_loads", "_STATE", "_adp_stage_x"])
def test_a_source_cannot_load_into_adps_own_tables(tmp_path, table):
    make_repo(tmp_path, f"sources:\n  files:\n    s: {{path: data, table: {table}}}\n")
    out = ingest(tmp_path, "--all")
    assert out.returncode == 2 and "`sources.files.s.table`" in out.stderr and "adp keeps for itself" in out.stderr


# --- 2. a header-only CSV -------------------------------------------------------------------------

def test_a_header_only_csv_keeps_the_previous_rows_with_a_warning(tmp_path):
    before, _ = loaded_repo(tmp_path)
    f = write(tmp_path / "data" / "a" / "orders.csv", "id,amount\n")
    touch_later(f)

    out = ingest(tmp_path, "--all", "--json")

    assert out.returncode == 0, out.stderr
    (load,) = out.json()["loads"]
    assert load["status"] == "empty" and load["error"] is None
    assert any("no data rows" in w and "orders.csv" in w and "left as it was" in w for w in load["warnings"])
    assert rows(tmp_path, "raw.orders") == before
    text = ingest(tmp_path, "--all")  # the same input again: also in the text summary
    assert text.returncode == 0 and "no data rows" in text.stdout
    assert rows(tmp_path, "raw.orders") == before


def test_a_header_only_csv_with_crlf_and_no_final_newline_keeps_the_rows_too(tmp_path):
    before, _ = loaded_repo(tmp_path)
    touch_later(write(tmp_path / "data" / "a" / "orders.csv", "id,amount\r\n"))
    assert ingest(tmp_path, "--all").returncode == 0
    touch_later(write(tmp_path / "data" / "a" / "orders.csv", "id,amount"))
    assert ingest(tmp_path, "--all").returncode == 0
    assert rows(tmp_path, "raw.orders") == before


def test_a_first_header_only_csv_creates_the_table_with_its_columns(tmp_path):
    make_repo(tmp_path, ONE)
    write(tmp_path / "data" / "a" / "orders.csv", "id,amount\n")

    out = ingest(tmp_path, "--all", "--json")

    (load,) = out.json()["loads"]
    assert out.returncode == 0 and load["status"] == "loaded" and load["rows"] == 0
    assert any("no data rows" in w for w in load["warnings"])
    with duckdb.connect(str(wh(tmp_path)), read_only=True) as conn:
        cols = [r[0] for r in conn.execute("DESCRIBE raw.orders").fetchall()]
    assert cols[:2] == ["id", "amount"]


# --- 3. a source whose path or pattern matches nothing ----------------------------------------------

MISSING = ONE + '    extra: {path: data/extra, pattern: "extra_*.csv", table: extra}\n'


def test_a_missing_glob_is_visible_in_adp_ingest(tmp_path):
    before, _ = loaded_repo(tmp_path)
    write_sources(tmp_path, MISSING)
    (tmp_path / "data" / "extra").mkdir()

    out = ingest(tmp_path, "--all", "--json")

    assert out.returncode == 0, out.stderr
    loads = {s["source"]: s for s in out.json()["loads"]}
    assert loads["extra"]["status"] == "missing" and loads["extra"]["table"] == "raw.extra"
    assert any("no files match" in w and "extra_*.csv" in w for w in loads["extra"]["warnings"])
    text = ingest(tmp_path, "--all")
    assert "missing  raw.extra" in text.stdout and "no files match" in text.stdout
    assert ingest(tmp_path, "--all", "--stale-only", "--json").json()["loads"][-1]["status"] == "missing"  # every time
    assert [r[:2] for r in rows(tmp_path, "raw.orders")] == [r[:2] for r in before]  # `a` reloaded (no --stale-only)
    with duckdb.connect(str(wh(tmp_path)), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'extra'").fetchone() == (0,)


def test_files_that_disappear_leave_the_table_and_say_so(tmp_path):
    before, _ = loaded_repo(tmp_path)
    (tmp_path / "data" / "a" / "orders.csv").unlink()

    out = ingest(tmp_path, "--all", "--json")

    (load,) = out.json()["loads"]
    assert out.returncode == 0 and load["status"] == "missing"
    assert rows(tmp_path, "raw.orders") == before
    (tmp_path / "data" / "a").rmdir()
    (load,) = ingest(tmp_path, "--all", "--json").json()["loads"]
    assert load["status"] == "missing" and any("does not exist" in w for w in load["warnings"])


def test_a_path_naming_a_file_says_so(tmp_path):
    make_repo(tmp_path, "sources:\n  files:\n    s: {path: data/orders.csv, table: orders}\n")
    write(tmp_path / "data" / "orders.csv", "id\n1\n")
    (load,) = ingest(tmp_path, "--all", "--json").json()["loads"]
    assert load["status"] == "missing" and any("is a file, not a directory" in w for w in load["warnings"])


def test_a_required_source_without_input_fails_adp_ingest_and_keeps_its_table(tmp_path):
    yml = ONE.replace('table: orders}', 'table: orders, required: true}') + \
        '    c: {path: data/c, pattern: "*.csv", table: customers}\n'
    before, _ = loaded_repo(tmp_path, yml)
    (tmp_path / "data" / "a" / "orders.csv").unlink()
    write(tmp_path / "data" / "c" / "customers.csv", "id\n1\n")

    out = ingest(tmp_path, "--all", "--json")

    assert out.returncode == 1, out.stdout + out.stderr
    body = out.json()
    assert body["status"] == "error" and body["exit_code"] == 1
    loads = {s["source"]: s for s in body["loads"]}
    assert loads["a"]["status"] == "missing"
    assert "sources.yml" in loads["a"]["error"] and "`sources.files.a`" in loads["a"]["error"]
    assert "required" in loads["a"]["error"] and "no files match" in loads["a"]["error"]
    assert loads["c"]["status"] == "loaded"  # an independent source still loads, as with any failed source
    assert rows(tmp_path, "raw.orders") == before
    text = ingest(tmp_path, "a")
    assert text.returncode == 1 and "`sources.files.a`: required" in text.stdout


def test_a_required_source_without_input_stops_adp_run_before_anything_loads_or_dbt_runs(tmp_path):
    yml = ONE.replace('table: orders}', 'table: orders, required: true}') + \
        '    c: {path: data/c, pattern: "*.csv", table: customers}\n'
    before, _ = loaded_repo(tmp_path, yml)
    (tmp_path / "data" / "a" / "orders.csv").unlink()
    write(tmp_path / "data" / "c" / "customers.csv", "id\n1\n")
    dbt = tmp_path / "dbt"
    write(dbt / "models" / "n.sql", "select count(*) as n from raw.orders\n")

    ran = run_adp("run", "--no-heal", "--json", *cli(tmp_path), cwd=tmp_path)

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "sources.yml" in ran.stderr and "`sources.files.a`: required" in ran.stderr
    assert "dbt did not run" in ran.stderr
    assert not (dbt / "target" / "run_results.json").exists()
    assert rows(tmp_path, "raw.orders") == before
    with duckdb.connect(str(wh(tmp_path)), read_only=True) as conn:  # `c` was not loaded: nothing was
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'customers'").fetchone() == (0,)
    history = run_adp("history", "--json", "--log-dir", str(tmp_path / "logs"), cwd=tmp_path).json()
    assert history[-1]["status"] == "failed"  # on record as failed, not left `running` or `interrupted`


@pytest.mark.dbt
def test_a_missing_glob_is_visible_in_adp_run_json(tmp_path):
    make_repo(tmp_path, """
        project: dbt
        sources:
          files:
            people: {path: data, pattern: people.csv}
            extra: {path: data/extra, pattern: "*.csv", table: extra}
        """)
    write(tmp_path / "data" / "people.csv", "name\nann\n")
    dbt = tmp_path / "dbt"
    write(dbt / "models" / "sources.yml", textwrap.dedent("""\
        version: 2
        sources:
          - name: raw
            schema: raw
            tables: [{name: people}]
        """))
    write(dbt / "models" / "n_people.sql", "select count(*) as n from {{ source('raw', 'people') }}\n")

    first = run_adp("run", "--no-heal", "--json", *cli(tmp_path), cwd=tmp_path)
    second = run_adp("run", "--no-heal", "--json", *cli(tmp_path), cwd=tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    assert first.json()["status"] == "success"
    loads = {s["source"]: s for s in first.json()["ingested"]}
    assert loads["people"]["status"] == "loaded"
    assert loads["extra"]["status"] == "missing" and loads["extra"]["table"] == "raw.extra"
    assert any("data/extra" in w and "does not exist" in w for w in loads["extra"]["warnings"])
    assert second.returncode == 0
    assert [(s["source"], s["status"]) for s in second.json()["ingested"]] == [("extra", "missing")]  # not hidden as unchanged


# --- 4. duplicate keys in YAML config files ---------------------------------------------------------

def test_a_duplicate_key_in_sources_yml_names_the_line(tmp_path):
    before, db = loaded_repo(tmp_path)
    write_sources(tmp_path, ONE + '    b: {path: data/b}\n    a: {path: data/other, table: other}\n')

    refused = ingest(tmp_path, "--all")

    assert refused.returncode == 2
    assert "sources.yml" in refused.stderr and "`line 7`" in refused.stderr
    assert "duplicate key `sources.files.a`" in refused.stderr and "first set on line 5" in refused.stderr
    ran = run_adp("run", "--no-heal", *cli(tmp_path), cwd=tmp_path)
    assert ran.returncode == 2 and "line 7" in ran.stderr
    assert rows(tmp_path, "raw.orders") == before and digest(wh(tmp_path)) == db


def test_a_duplicate_key_inside_a_source_is_refused_too(tmp_path):
    before, _ = loaded_repo(tmp_path)
    write_sources(tmp_path, "sources:\n  files:\n    a:\n      path: data/a\n      table: orders\n      table: other\n")
    refused = ingest(tmp_path, "--all")
    assert refused.returncode == 2 and "`line 6`" in refused.stderr and "sources.files.a.table" in refused.stderr
    assert rows(tmp_path, "raw.orders") == before


def test_a_duplicate_key_in_execution_mode_yml_names_the_line(tmp_path):
    before, _ = loaded_repo(tmp_path)
    write(tmp_path / "config" / "execution_mode.yml", "retry:\n  max_retries: 2\n  base_delay_seconds: 1\n  max_retries: 9\n")

    for command in ("ingest", "run"):
        refused = run_adp(command, *(("--all",) if command == "ingest" else ("--no-heal",)), *cli(tmp_path), cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert "execution_mode.yml" in refused.stderr and "`line 4`" in refused.stderr
        assert "duplicate key `retry.max_retries`" in refused.stderr and "first set on line 2" in refused.stderr
    assert rows(tmp_path, "raw.orders") == before


# --- 5. an unclosed quote -----------------------------------------------------------------------------

def test_an_unclosed_quote_in_sources_yml_names_the_line_it_opens(tmp_path):
    before, db = loaded_repo(tmp_path)
    write_sources(tmp_path, 'project: dbt\nsources:\n  files:\n    a:\n      path: "data/a\n      table: orders\n'
                  "      max_rejects: 0\n\n# the end\n")

    refused = ingest(tmp_path, "--all")

    assert refused.returncode == 2
    assert "sources.yml" in refused.stderr and "`line 5`" in refused.stderr
    assert "quoted string opened on line 5 is never closed" in refused.stderr
    assert rows(tmp_path, "raw.orders") == before and digest(wh(tmp_path)) == db


def test_a_quote_closed_by_a_later_one_points_at_where_it_opens(tmp_path):
    before, _ = loaded_repo(tmp_path)
    write_sources(tmp_path, 'sources:\n  files:\n    a:\n      path: "data/a\n      pattern: "*.csv"\n      table: orders\n')
    refused = ingest(tmp_path, "--all")
    assert refused.returncode == 2 and "`line 4`" in refused.stderr and "opened on line 4" in refused.stderr
    assert rows(tmp_path, "raw.orders") == before


def test_an_unclosed_quote_in_execution_mode_yml_names_the_line_it_opens(tmp_path):
    loaded_repo(tmp_path)
    write(tmp_path / "config" / "execution_mode.yml", "execution:\n  mode: 'autonomous\nretry:\n  max_retries: 2\n")
    refused = ingest(tmp_path, "--all")
    assert refused.returncode == 2 and "execution_mode.yml" in refused.stderr and "`line 2`" in refused.stderr


# --- the shared loader -------------------------------------------------------------------------------

def test_load_yaml_is_safe_load_without_duplicates():
    text = "base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  x: 3\nlist: [*b, *b]\n"
    assert load_yaml(text) == yaml.safe_load(text)  # merge keys may override; aliases are no duplicates
    assert load_yaml("") is None
    with pytest.raises(DuplicateKeyError) as err:
        load_yaml("a:\n  - {name: x, name: y}\n")
    assert err.value.key == "a[0].name" and err.value.problem_mark.line == 1
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object:os.system {}\n")  # still the safe loader


def test_describe_points_at_the_earliest_duplicate_and_the_opening_quote():
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    with pytest.raises(yaml.YAMLError) as err:
        load_yaml(text)
    assert describe(err.value, text)[0] == 4
    text = "a: 1\nb: 'x\nc: 2\n"
    with pytest.raises(yaml.YAMLError) as err:
        load_yaml(text)
    line, message = describe(err.value, text)
    assert line == 2 and "opened on line 2" in message

"""File ingestion into a real DuckDB file: formats, rejects, empty/unreadable files, drift, write modes."""
from __future__ import annotations

import json
import os

import duckdb
import pytest

from adp.errors import ConfigError
from adp.ingest import run_ingest
from adp.ingest.run import ingest
from adp.runlog import read_events
from ingest_helpers import by_table, make_repo, query, write_sources

CSV_SOURCE = """
project: dbt
sources:
  files:
    people:
      path: data
      pattern: "people*.csv"
      table: people
      max_rejects: {max_rejects}
      on_schema_change: {policy}
      options: {{types: {{age: INTEGER}}}}
"""


def people(tmp_path, max_rejects=0, policy="evolve"):
    return make_repo(tmp_path, CSV_SOURCE.format(max_rejects=max_rejects, policy=policy))


def test_every_format_loads_with_metadata_and_a_loads_row(tmp_path):
    ws = make_repo(tmp_path, """
        sources:
          files:
            csv: {path: data, pattern: "*.csv"}
            parquet: {path: data, pattern: "*.parquet"}
            json: {path: data, pattern: "*.json"}
            events: {path: data/events, pattern: "*.ndjson", table: events}
        """)
    data = tmp_path / "data"
    (data / "customers.csv").write_text("id,name\n1,Ada\n2,Grace\n")
    duckdb.sql(f"COPY (SELECT range AS id, range * 2 AS v FROM range(5)) TO '{data / 'pay.parquet'}'")
    (data / "reviews.json").write_text(json.dumps([{"id": 1, "meta": {"ok": True}}, {"id": 2, "meta": {"ok": False}}]))
    (data / "events").mkdir()
    (data / "events" / "a.ndjson").write_text('{"e": 1}\n{"e": 2}\n')
    (data / "events" / "b.ndjson").write_text('{"e": 3, "extra": "x"}\n')

    loads = by_table(run_ingest(ws))

    assert {t: s.rows for t, s in loads.items()} == {"raw.customers": 2, "raw.pay": 5, "raw.reviews": 2, "raw.events": 3}
    assert all(s.status == "loaded" for s in loads.values())
    cols = [r[0] for r in query(ws, "DESCRIBE raw.customers")]
    assert cols == ["id", "name", "_source_file", "_loaded_at", "_load_id"]
    assert query(ws, "SELECT DISTINCT _source_file FROM raw.customers") == [(str(data / "customers.csv"),)]
    assert query(ws, "SELECT meta.ok FROM raw.reviews ORDER BY id") == [(True,), (False,)]
    assert query(ws, "SELECT count(*), count(extra) FROM raw.events") == [(3, 1)]
    rows = query(ws, "SELECT table_name, status, rows, files, fingerprint IS NOT NULL FROM raw._loads ORDER BY table_name")
    assert rows == [("raw.customers", "loaded", 2, 1, True), ("raw.events", "loaded", 3, 2, True),
                    ("raw.pay", "loaded", 5, 1, True), ("raw.reviews", "loaded", 2, 1, True)]
    assert [e["table"] for e in read_events(ws.log_dir) if e["event"] == "ingest_loaded"] == list(loads)


def test_ragged_and_mistyped_rows_are_kept_aside_within_max_rejects(tmp_path):
    ws = people(tmp_path, max_rejects=3)
    (tmp_path / "data" / "people.csv").write_text("name,age\nann,30\nbob\ncid,40,extra\ndee,old\neve,22\n")

    (s,) = run_ingest(ws)

    assert (s.status, s.rows, s.rejects) == ("loaded", 2, 3)
    assert [(r["line"], r["error_type"]) for r in s.rejected] == [(3, "MISSING COLUMNS"), (4, "TOO MANY COLUMNS"), (5, "CAST")]
    assert all(r["file"].endswith("people.csv") for r in s.rejected)
    assert query(ws, "SELECT line, error_type FROM raw._rejects ORDER BY line") == [
        (3, "MISSING COLUMNS"), (4, "TOO MANY COLUMNS"), (5, "CAST")]


def test_too_many_rejects_fail_and_the_previous_table_survives(tmp_path):
    ws = people(tmp_path, max_rejects=0)
    f = tmp_path / "data" / "people.csv"
    f.write_text("name,age\nann,30\nbob,31\n")
    assert run_ingest(ws)[0].status == "loaded"
    f.write_text("name,age\nann,30\nbob,not-a-number\n")

    (s,) = run_ingest(ws)

    assert s.status == "error"
    assert "1 malformed rows (max_rejects is 0)" in s.error and "people.csv line 3" in s.error
    assert query(ws, "SELECT name, age FROM raw.people ORDER BY name") == [("ann", 30), ("bob", 31)]
    assert query(ws, "SELECT status, rejects FROM raw._loads ORDER BY started_at") == [("loaded", 0), ("error", 1)]
    assert query(ws, "SELECT line FROM raw._rejects") == [(3,)]
    assert [e["table"] for e in read_events(ws.log_dir) if e["event"] == "ingest_failed"] == ["raw.people"]


def test_a_huge_line_is_rejected_with_its_line_number(tmp_path):
    ws = people(tmp_path, max_rejects=5)
    write_sources(tmp_path, CSV_SOURCE.format(max_rejects=5, policy="evolve").replace(
        "options: {types: {age: INTEGER}}", "options: {columns: {name: VARCHAR, age: INTEGER}, header: true, auto_detect: false, max_line_size: 4096}"))
    (tmp_path / "data" / "people.csv").write_text("name,age\nann,30\n" + "x" * 10_000 + ",1\nbob,31\n")

    (s,) = run_ingest(ws)

    assert s.status == "loaded" and s.rows == 2
    assert [(r["line"], r["error_type"]) for r in s.rejected] == [(3, "LINE SIZE OVER MAXIMUM")]
    assert len(s.rejected[0]["csv_line"]) < 400


def test_a_huge_line_the_sniffer_cannot_read_fails_with_file_and_reason(tmp_path):
    ws = people(tmp_path, max_rejects=5)
    write_sources(tmp_path, CSV_SOURCE.format(max_rejects=5, policy="evolve").replace(
        "options: {types: {age: INTEGER}}", "options: {max_line_size: 4096}"))
    (tmp_path / "data" / "people.csv").write_text("x" * 10_000 + ",1\nbob,31\n")

    (s,) = run_ingest(ws)

    assert s.status == "error" and "Maximum line size of 4096 bytes exceeded" in s.error and "people.csv" in s.error
    assert len(s.error) < 3500


def test_empty_file_is_a_warning_and_keeps_the_table(tmp_path):
    ws = people(tmp_path)
    f = tmp_path / "data" / "people.csv"
    f.write_text("name,age\nann,30\n")
    run_ingest(ws)
    f.write_text("")

    (s,) = run_ingest(ws)

    assert s.status == "empty" and s.error is None
    assert any("empty file" in w for w in s.warnings)
    assert query(ws, "SELECT name FROM raw.people") == [("ann",)]
    assert run_ingest(ws, stale_only=True)[0].status == "skipped"  # unchanged empty input is not retried


def test_unreadable_file_fails_naming_the_file_and_keeps_the_table(tmp_path):
    ws = make_repo(tmp_path, "sources:\n  files:\n    pay: {path: data, pattern: '*.parquet', table: pay}\n")
    f = tmp_path / "data" / "pay.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS id) TO '{f}'")
    run_ingest(ws)
    f.write_bytes(b"this is not parquet at all")

    (s,) = run_ingest(ws)

    assert s.status == "error" and "pay.parquet" in s.error
    assert query(ws, "SELECT id FROM raw.pay") == [(1,)]


def test_schema_drift_evolves_or_fails_by_policy(tmp_path):
    f = tmp_path / "data" / "people.csv"
    ws = people(tmp_path, policy="evolve")
    f.write_text("name,age\nann,30\n")
    run_ingest(ws)
    f.write_text("name,age,city\nann,30,Oslo\n")

    (s,) = run_ingest(ws)

    assert s.status == "loaded" and s.drift == {"added": ["city"], "removed": [], "changed": []}
    drift = [e for e in read_events(ws.log_dir) if e["event"] == "schema_drift"]
    assert drift[-1]["added"] == ["city"] and drift[-1]["table"] == "raw.people"

    write_sources(tmp_path, CSV_SOURCE.format(max_rejects=0, policy="fail"))
    f.write_text("name,city\nbob,Rome\n")
    (s,) = run_ingest(ws)

    assert s.status == "error" and "schema drift" in s.error and "removed age" in s.error
    assert query(ws, "SELECT name, age, city FROM raw.people") == [("ann", 30, "Oslo")]


def test_append_and_merge_write_modes(tmp_path):
    ws = make_repo(tmp_path, """
        sources:
          files:
            log: {path: data, pattern: log.csv, table: log, write: append}
            dim: {path: data, pattern: dim.csv, table: dim, write: merge, primary_key: [id]}
        """)
    d = tmp_path / "data"
    (d / "log.csv").write_text("id,v\n1,a\n")
    (d / "dim.csv").write_text("id,v\n1,a\n2,b\n")
    run_ingest(ws)
    (d / "log.csv").write_text("id,v,w\n2,b,x\n")
    (d / "dim.csv").write_text("id,v\n2,B\n3,c\n")

    loads = by_table(run_ingest(ws))

    assert loads["raw.log"].drift["added"] == ["w"]
    assert query(ws, "SELECT id, v, w FROM raw.log ORDER BY id") == [(1, "a", None), (2, "b", "x")]
    assert query(ws, "SELECT id, v FROM raw.dim ORDER BY id") == [(1, "a"), (2, "B"), (3, "c")]


def test_stale_only_skips_unchanged_files(tmp_path):
    ws = people(tmp_path)
    f = tmp_path / "data" / "people.csv"
    f.write_text("name,age\nann,30\n")
    assert run_ingest(ws, stale_only=True)[0].status == "loaded"
    assert run_ingest(ws, stale_only=True)[0].status == "skipped"
    f.write_text("name,age\nann,30\nbob,31\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert run_ingest(ws, stale_only=True)[0].rows == 2


@pytest.mark.parametrize("yml, key", [
    ("sources:\n  files:\n    a: {path: data, colour: red}\n", "sources.files.a.colour"),
    ("sources:\n  files:\n    a: {path: data, max_rejects: many}\n", "sources.files.a.max_rejects"),
    ("sources:\n  excel:\n    a: {}\n", "sources.excel"),
    ("sources:\n  files:\n    a: {write: merge}\n", "sources.files.a.primary_key"),
    ("sources:\n  apis:\n    a: {base_url: 'http://x', auth: {type: bearer, token_env: ADP_TEST_NOPE},"
     " endpoints: [{name: e, path: /e}]}\n", "sources.apis.a.auth.token_env"),
    ("sources:\n  apis:\n    a: {base_url: 'http://x', endpoints: [{name: e, path: /e,"
     " pagination: {type: pages}}]}\n", "sources.apis.a.endpoints[0].pagination.type"),
])
def test_config_errors_name_file_and_key(tmp_path, yml, key):
    ws = make_repo(tmp_path, yml)
    with pytest.raises(ConfigError) as err:
        run_ingest(ws)
    assert err.value.file.endswith("sources.yml") and err.value.key == key


def test_standalone_ingest_needs_names_or_all_and_reports_failures(tmp_path):
    ws = people(tmp_path)
    (tmp_path / "data" / "people.csv").write_text("name,age\nann,x\n")
    from adp.errors import UsageError

    with pytest.raises(UsageError):
        ingest(ws)
    outcome = ingest(ws, all_sources=True)
    assert (outcome.status, outcome.exit_code) == ("error", 1)
    assert outcome.loads[0]["rejects"] == 1

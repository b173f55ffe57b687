"""Commands on the data and the runs' results: `adp ingest`, `validate`, `report`, `diagnose`, `lake`, `inspect`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from adp.cli.options import handle_errors, open_workspace, print_json, workspace_options
from adp.diagnose import diagnose as run_diagnosis
from adp.errors import UsageError
from adp.inspect_node import inspect_node
from adp.runlog import RunLog, load_result
from adp.warehouses.duckdb import database_path


# --- adp ingest (issue #7) -------------------------------------------------------------------------
@click.command(short_help="Load files and HTTP APIs from config/sources.yml into DuckDB.")
@workspace_options
@click.option("--all", "all_sources", is_flag=True, help="Every enabled source in config/sources.yml.")
@click.option("--stale-only", is_flag=True, help="Skip sources unchanged since their last successful load.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: status, exit_code, loads.")
@click.argument("names", nargs=-1)
@handle_errors
def ingest(all_sources, stale_only, as_json, names, **kw) -> None:
    """Load files and HTTP APIs from config/sources.yml into the profile's DuckDB file.

    Each table is loaded atomically (a failed load keeps the previous table). Exit: 0 all loaded,
    1 a source failed, 2 usage/config error.

    Example: adp ingest --all --json
    """
    from adp.ingest.report import format_load, progress_printer  # imports duckdb: only for this command
    from adp.ingest.run import ingest as run

    ws = open_workspace(kw)
    outcome = run(ws, names, all_sources=all_sources, stale_only=stale_only, progress=None if as_json else progress_printer())
    if as_json:
        print_json(outcome.to_dict())
    else:
        for load in outcome.loads:
            click.echo(format_load(load))
    sys.exit(outcome.exit_code)


# --- adp validate / adp report (issue #8) ---------------------------------------------------------
@click.command(short_help="Compare the warehouse with the last good run.")
@workspace_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: status and findings.")
@click.option("--accept", is_flag=True, help="After an intended change: make the current state the baseline.")
@handle_errors
def validate(as_json, accept, **kw) -> None:
    """Compare the warehouse now with the last good run: volumes, columns, NULLs, tests, freshness.

    Names the baseline (the last good run); when the data changed on purpose, `--accept` makes the
    current state the baseline. Thresholds come from config/execution_mode.yml (`validate:`).
    Exit: 0 no error finding, 1 an error finding, 2 usage/config error.

    Example: adp validate --json
    """
    from adp.validate import accept_current, has_errors  # imports duckdb (the history DB): only for this command
    from adp.validate import validate as run_validation

    ws = open_workspace(kw)
    if accept:
        snapshot = accept_current(ws)
        if as_json:
            print_json({"status": "accepted", "baseline": snapshot})
        else:
            click.echo(f"the current state is the baseline now: {snapshot}")
        return
    findings = run_validation(ws)
    failed = has_errors(findings)
    drift = [f for f in findings if f.severity in ("error", "warn")]
    if as_json:
        print_json({"status": "failed" if failed else "ok", "findings": [f.to_dict() for f in findings]})
    else:
        baseline = _baseline_run(ws)
        click.echo(f"baseline: run {baseline}" if baseline else "baseline: none yet (no good run on record)")
        for f in findings:
            where = ".".join(p for p in (f.relation, f.column) if p)
            click.echo(f"{f.severity.upper():<5}  {where}  {f.message}" if where else f"{f.severity.upper():<5}  {f.message}")
        if not findings:
            click.echo("OK     no changes against the last good run")
        if drift:
            click.echo(f"{len(drift)} change(s) against run {baseline}. If they are intended, "
                       "`adp validate --accept` makes the current state the baseline.")
    sys.exit(1 if failed else 0)


def _baseline_run(ws) -> str | None:
    """The run `adp validate` compares with: the last good run in the history DB (None before the first)."""
    from adp.history_db import HistoryDB  # imports duckdb: only for this command

    with HistoryDB(ws.log_dir, read_only=True) as db:
        return db.last_good_run()


@click.command(short_help="Write logs/report.html (self-contained).")
@workspace_options
@click.option("--open", "open_", is_flag=True, help="Open the report in the default browser.")
@handle_errors
def report(open_, **kw) -> None:
    """Write logs/report.html from the run log and the history DB (self-contained, no network).

    Exit: 0 written, 2 usage/config error.

    Example: adp report --open
    """
    from adp.report import write_report  # imports duckdb (the history DB): only for this command

    path = write_report(open_workspace(kw))
    click.echo(str(path))
    if open_:
        click.launch(path.as_uri())


# -- adp diagnose (issue 4) ---------------------------------------------------------------------------
@click.command(short_help="Typed, located diagnoses of a run's failures.")
@workspace_options
@click.option("--run-id", default=None, help="Run to diagnose (default: the most recent saved run).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of diagnoses (docs/diagnosis.md).")
@handle_errors
def diagnose(run_id, as_json, **kw) -> None:
    """Explain why a run failed: one typed, located diagnosis per root failure.

    Reads the saved RunResult of the run and the project's current target/ artifacts.
    Exit: 0 the run had nothing to diagnose, 1 it did, 2 unknown run id or usage/config error.

    Example: adp diagnose --json
    """
    ws = open_workspace(kw)
    result = load_result(ws.log_dir, run_id)
    if result is None:
        which = f"run {run_id}" if run_id else "any run"
        raise UsageError(f"no saved result for {which} in {ws.log_dir / 'runs'} (run `adp run` first)")
    diagnoses = run_diagnosis(result, ws.project, RunLog(ws.log_dir, run_id or "diagnose"))
    if as_json:
        print_json([d.to_dict() for d in diagnoses])
    else:
        for d in diagnoses:
            where = f"{d.file}:{d.line}" if d.line else (d.file or "?")
            click.echo(f"{d.category:<30} {where}  {d.summary}")
            if d.candidates:
                click.echo("    candidates: " + ", ".join(f"{c.name} ({c.score:.2f})" for c in d.candidates[:3]))
        if not diagnoses:
            click.echo("nothing to diagnose: the run succeeded")
    sys.exit(1 if diagnoses else 0)


# --- adp lake (issue #11): ingested tables as Parquet folders for engines that read files (Spark) ---
@click.command(short_help="Write the ingested tables as Parquet folders (for Spark).")
@workspace_options
@click.option("--lake-dir", default="data/lake", show_default=True, help="Where <table>/part-0.parquet folders go.")
@click.option("--schema", default="raw", show_default=True, help="Schema of the ingested tables to export.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: tables written.")
@handle_errors
def lake(lake_dir, schema, as_json, **kw) -> None:
    """Write the ingested tables of the profile's DuckDB file as Parquet folders (one per table).

    Spark targets read them as sources (see docs/spark.md). Run after `adp ingest`; pick the DuckDB
    output with --target when the profile's default target is not DuckDB.
    Exit: 0 written, 2 usage/config error (e.g. the target is not a DuckDB file).

    Example: adp ingest --all && adp lake
    """
    from adp.ingest.lake import export_lake  # imports duckdb: only for this command

    ws = open_workspace(kw)
    db = database_path(ws.project)
    if db is None:
        raise UsageError(f"target `{ws.project.target_name()}` is not a DuckDB file; pass --target with the DuckDB output")
    tables = export_lake(db, Path(lake_dir).resolve(), schema)
    if as_json:
        print_json({"status": "ok", "tables": [t.to_dict() for t in tables]})
    else:
        for t in tables:
            click.echo(f"{t.table:<24} {t.rows:>8} rows  {t.path}")


# -- adp inspect: what the diagnostician agent reads about one node --------------------------------------
@click.command(short_help="A node's file, compiled SQL, last error, upstream columns, tests.")
@workspace_options
@click.argument("node")
@click.option("--run-id", default=None, help="Take the node's error message from this run (default: the most recent).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def inspect(node, run_id, as_json, **kw) -> None:
    """Show a node's file, compiled SQL, last error, upstream columns and tests (read-only).

    NODE is a unique_id or a name. The diagnostician agent's input (scripts/inspect_node.py).
    Exit: 0 shown, 2 unknown node or run id, no manifest, or usage/config error.

    Example: adp inspect stg_orders --json
    """
    ctx = inspect_node(open_workspace(kw), node, run_id)
    if as_json:
        print_json(ctx.to_dict())
        return
    click.echo(f"{ctx.unique_id}  ({ctx.file or '?'})  status={ctx.status or '-'}" + (f"  run {ctx.run_id}" if ctx.run_id else ""))
    for up in ctx.upstream:
        cols = ", ".join(c.name for c in up.columns) or "?"
        click.echo(f"  upstream {up.name} [{up.columns_from}]: {cols}")
    click.echo(f"  downstream: {', '.join(ctx.downstream) or '-'}")
    click.echo(f"  tests ({len(ctx.tests)}):" + ("" if ctx.tests else " -"))
    for test in ctx.tests:
        click.echo(f"    {test}")
    if ctx.message:
        click.echo("  last error:")
        click.echo("    " + ctx.message.strip().replace("\n", "\n    "))
    if ctx.compiled_sql:
        click.echo("  compiled SQL:")
        click.echo("    " + ctx.compiled_sql.strip().replace("\n", "\n    "))
    else:
        click.echo("  compiled SQL: - (not compiled yet: `dbt compile` or `adp run`)")

"""`adp run` and `adp history`."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from adp.cli.options import handle_errors, open_workspace, print_json, workspace_options
from adp.models import FAILED_STATUSES
from adp.pipeline import BuildSpec, run_pipeline
from adp.progress import Progress, ask_approval, say
from adp.runlog import history as read_history


@click.command(context_settings={"ignore_unknown_options": True})
@workspace_options
@click.option("-s", "--select", multiple=True, help="dbt selector (repeatable).")
@click.option("--exclude", multiple=True, help="dbt exclusion (repeatable).")
@click.option("--vars", "vars_", default=None, help="dbt --vars (YAML/JSON string).")
@click.option("--full-refresh", is_flag=True, help="Pass --full-refresh to dbt.")
@click.option("--threads", type=int, default=None, help="dbt threads.")
@click.option("--mode", type=click.Choice(["autonomous", "human-in-loop"]), default=None, help="Override config's execution.mode.")
@click.option("--heal/--no-heal", default=True, help="Diagnose and fix failures (default on).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@handle_errors
def run(select, exclude, vars_, full_refresh, threads, mode, heal, as_json, dbt_args, **kw) -> None:
    """Ingest stale sources, run `dbt build`, and heal failures.

    Anything after `--` goes to dbt unchanged. Exit: 0 green, 1 failed, 2 usage/config, 3 needs a person.

    Example: adp run --select stg_orders+ --mode autonomous --json
    """
    ws = open_workspace(kw)
    if ws.config.ingest.on_run:
        from adp.ingest import load_sources  # imports duckdb: only when the run ingests

        load_sources(ws.config_dir)  # an invalid config/sources.yml stops here (exit 2), before any run
    spec = BuildSpec(tuple(select), tuple(exclude), vars_, full_refresh, threads, tuple(dbt_args))
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not as_json
    outcome = run_pipeline(ws, spec, heal=heal, mode=mode, progress=Progress(), approve=ask_approval if interactive else None,
                           notify=say)
    if as_json:
        print_json(outcome.to_dict())
    else:
        print_outcome(outcome)
    sys.exit(outcome.exit_code)


def print_outcome(outcome: Any) -> None:
    failed = [n for n in outcome.nodes if n["status"] in FAILED_STATUSES]
    click.echo(f"{outcome.status.upper()}  run {outcome.run_id}  attempts={outcome.attempts}  {outcome.duration:.1f}s")
    for load in outcome.ingested:
        click.echo(f"  ingested {load.get('table') or load.get('source')}: {load.get('status')} ({load.get('rows', 0)} rows)")
    for n in failed:
        click.echo(f"  {n['status']:<6} {n['unique_id']}  ({n.get('file') or '?'})")
        if n.get("message"):
            click.echo("         " + n["message"].strip().replace("\n", "\n         "))
    if outcome.error:
        click.echo("  " + outcome.error.strip().replace("\n", "\n  "))
    for fix in outcome.fixes:
        state = "applied" if fix.get("applied") else ("rolled back" if fix.get("rolled_back") else "proposed")
        click.echo(f"  fix {fix['rule']} on {fix.get('file')} (confidence {fix['confidence']:.2f}): {state}")
    for finding in outcome.validation:
        if finding.get("severity") in ("error", "warn"):
            click.echo(f"  validation {finding['severity']}: {finding.get('message')}")
    if outcome.findings_path:
        click.echo(f"  findings: {outcome.findings_path}")
    for p in outcome.proposals:
        click.echo(f"  proposal awaiting approval: {p}")


@click.command()
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="How many recent runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def history(log_dir, limit, as_json) -> None:
    """Show recent runs from logs/pipeline_runs.log.

    Example: adp history -n 5
    """
    rows = read_history(Path(log_dir or "logs"), limit)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    click.echo(f"{'run_id':<24} {'started':<25} {'status':<13} {'attempts':>8} {'secs':>7} {'failed':>6} {'fixes':>5}")
    for r in rows:
        secs = f"{r.duration:.1f}" if r.duration is not None else "-"
        click.echo(f"{r.run_id:<24} {r.started:<25} {r.status:<13} {r.attempts:>8} {secs:>7} {r.failed_nodes:>6} {r.fixes_applied:>5}")

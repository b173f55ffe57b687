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
from adp.progress import Progress
from adp.runlog import history as read_history


@click.command(context_settings={"ignore_unknown_options": True}, short_help="Ingest, run `dbt build` and heal failures.")
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

    Anything after `--` goes to dbt unchanged. In human-in-loop mode on a terminal each fix is shown and
    `Apply? [y/N]` asked; without a terminal (or with --json) the proposal is saved for `adp fix apply`.

    Exit: 0 green (success or healed), 1 still failing, 2 usage/config error, 3 stopped for a person,
    130/143 interrupted.

    Example: adp run --select stg_orders+ --mode autonomous --json
    """
    ws = open_workspace(kw)
    if ws.config.ingest.on_run:
        from adp.ingest import load_sources  # imports duckdb: only when the run ingests

        load_sources(ws.config_dir)  # an invalid config/sources.yml stops here (exit 2), before any run
    spec = BuildSpec(tuple(select), tuple(exclude), vars_, full_refresh, threads, tuple(dbt_args))
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not as_json
    progress = Progress()
    try:
        outcome = run_pipeline(ws, spec, heal=heal, mode=mode, progress=progress,
                               approve=progress.approve if interactive else None, notify=progress.say)
    finally:
        progress.end_line()
    if as_json:
        print_json(outcome.to_dict())
    else:
        print_outcome(outcome)
    sys.exit(outcome.exit_code)


def print_outcome(outcome: Any) -> None:
    """The outcome for a person: status line, failures, fixes, and after a heal where its traces are."""
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
    if outcome.status == "healed":
        _print_heal_traces(outcome)
    else:
        for finding in outcome.validation:
            if finding.get("severity") in ("error", "warn"):
                click.echo(f"  validation {finding['severity']}: {finding.get('message')}")
    if outcome.findings_path:
        click.echo(f"  findings: {outcome.findings_path}")
    for p in outcome.proposals:
        click.echo(f"  proposal awaiting approval: {p}")


def _print_heal_traces(outcome: Any) -> None:
    """Backups, the patch (`git apply`-able), the report and the validation of the healed run."""
    click.echo(f"  backups:    {outcome.backups_dir or 'not kept (autonomous.create_backups is off)'}")
    if outcome.log_path:
        patch = Path(outcome.log_path).parent / "fixes" / f"{outcome.run_id}.patch"
        click.echo(f"  patch:      {patch if patch.is_file() else 'none (the fixes changed no file text)'}")
    click.echo(f"  report:     {outcome.report_path or 'not written (report.on_run is off, or it failed)'}")
    errors = [f for f in outcome.validation if f.get("severity") == "error"]
    warns = [f for f in outcome.validation if f.get("severity") == "warn"]
    if not errors and not warns:
        click.echo("  validation: ok (no error or warning against the last good run)")
    else:
        click.echo(f"  validation: {len(errors)} error(s), {len(warns)} warning(s)")
        for f in errors + warns:
            click.echo(f"    {f['severity']}: {f.get('message')}")


@click.command(short_help="Recent runs, newest first.")
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="How many recent runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (oldest first, as in the log).")
@handle_errors
def history(log_dir, limit, as_json) -> None:
    """Show recent runs from logs/pipeline_runs.log, newest first.

    Exit: 0 (also when there are no runs yet), 2 usage error.

    Example: adp history -n 5
    """
    rows = read_history(Path(log_dir or "logs"), limit)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    if not rows:
        click.echo(f"No runs in {Path(log_dir or 'logs') / 'pipeline_runs.log'} yet.")
        return
    header = ("run_id", "started", "status", "attempts", "secs", "failed", "fixes")
    table = [(r.run_id, r.started, r.status, str(r.attempts), f"{r.duration:.1f}" if r.duration is not None else "-",
              str(r.failed_nodes), str(r.fixes_applied)) for r in reversed(rows)]
    widths = [max(len(row[i]) for row in (header, *table)) for i in range(len(header))]
    for row in (header, *table):
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells).rstrip())

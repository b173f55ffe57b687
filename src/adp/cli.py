"""The `adp` command line: each command parses options, makes one library call, prints the result."""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click

from adp.errors import AdpError
from adp.workspace import Workspace


def _fail(exc: AdpError) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(exc.exit_code)


def handle_errors(fn: Callable) -> Callable:
    """Turn library exceptions into one message on stderr and the exception's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AdpError as exc:
            _fail(exc)

    return wrapper


def workspace_options(fn: Callable) -> Callable:
    """--project-dir, --profiles-dir, --target, --config-dir, --log-dir (shared by every command)."""
    options = [
        click.option("--project-dir", default=None, help="dbt project directory (default: ./dbt)."),
        click.option("--profiles-dir", default=None, help="Directory holding profiles.yml (default: dbt's own lookup)."),
        click.option("--target", default=None, help="dbt target (default: the profile's)."),
        click.option("--config-dir", default=None, help="adp config directory (default: ./config)."),
        click.option("--log-dir", default=None, help="adp log directory (default: ./logs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def open_workspace(kw: dict[str, Any]) -> Workspace:
    ws = Workspace.open(
        kw.pop("project_dir"), kw.pop("profiles_dir"), kw.pop("target"), kw.pop("config_dir"), kw.pop("log_dir")
    )
    ws.config  # validate config/*.yml up front: exit 2 before anything runs
    return ws


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="adp")
def main() -> None:
    """Agentic Data Platform: run, diagnose and heal a dbt project on DuckDB."""


@main.command(context_settings={"ignore_unknown_options": True})
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
    from adp.pipeline import BuildSpec, run_pipeline
    from adp.progress import Progress

    ws = open_workspace(kw)
    spec = BuildSpec(tuple(select), tuple(exclude), vars_, full_refresh, threads, tuple(dbt_args))
    outcome = run_pipeline(ws, spec, heal=heal, mode=mode, progress=Progress(), interactive=sys.stdin.isatty() and sys.stdout.isatty() and not as_json)
    if as_json:
        print_json(outcome.to_dict())
    else:
        _print_outcome(outcome)
    sys.exit(outcome.exit_code)


def _print_outcome(outcome: Any) -> None:
    failed = [n for n in outcome.nodes if n["status"] in ("error", "fail", "runtime error")]
    click.echo(f"{outcome.status.upper()}  run {outcome.run_id}  attempts={outcome.attempts}  {outcome.duration:.1f}s")
    for n in failed:
        click.echo(f"  {n['status']:<6} {n['unique_id']}  ({n.get('file') or '?'})")
        if n.get("message"):
            click.echo("         " + n["message"].strip().replace("\n", "\n         "))
    if outcome.error:
        click.echo("  " + outcome.error.strip().replace("\n", "\n  "))
    for fix in outcome.fixes:
        state = "applied" if fix.get("applied") else ("rolled back" if fix.get("rolled_back") else "proposed")
        click.echo(f"  fix {fix['rule']} on {fix.get('file')} (confidence {fix['confidence']:.2f}): {state}")
    if outcome.findings_path:
        click.echo(f"  findings: {outcome.findings_path}")
    for p in outcome.proposals:
        click.echo(f"  proposal awaiting approval: {p}")


@main.command()
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="How many recent runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def history(log_dir, limit, as_json) -> None:
    """Show recent runs from logs/pipeline_runs.log.

    Example: adp history -n 5
    """
    from dataclasses import asdict
    from pathlib import Path

    from adp.runlog import history as read_history

    rows = read_history(Path(log_dir or "logs"), limit)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    click.echo(f"{'run_id':<24} {'started':<25} {'status':<13} {'attempts':>8} {'secs':>7} {'failed':>6} {'fixes':>5}")
    for r in rows:
        secs = f"{r.duration:.1f}" if r.duration is not None else "-"
        click.echo(f"{r.run_id:<24} {r.started:<25} {r.status:<13} {r.attempts:>8} {secs:>7} {r.failed_nodes:>6} {r.fixes_applied:>5}")

"""The `adp` command line: each command parses options, makes one library call, prints the result."""
from __future__ import annotations

import functools
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import click

from adp.apply import rollback_run
from adp.claude_install import install
from adp.diagnose import diagnose as run_diagnosis
from adp.errors import AdpError, FixError, Interrupted, UsageError
from adp.inspect_node import inspect_node
from adp.lock import WriterLock
from adp.models import FAILED_STATUSES
from adp.pipeline import BuildSpec, apply_approved, run_pipeline
from adp.progress import Progress, ask_approval, say
from adp.proposals import list_pending, load, mark, proposal_from_file
from adp.runlog import RunLog, load_result
from adp.runlog import history as read_history
from adp.warehouses.duckdb import database_path
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
        except (Interrupted, KeyboardInterrupt) as exc:  # dbt has been stopped; the run is logged as interrupted
            code = getattr(exc, "exit_code", 130)
            click.echo(f"adp: interrupted by {signal.Signals(code - 128).name}", err=True)
            sys.exit(code)

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
        _print_outcome(outcome)
    sys.exit(outcome.exit_code)


def _print_outcome(outcome: Any) -> None:
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


@main.command()
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


# --- adp fix: proposals awaiting a person, applying them, rolling back ---------------------------
@main.group()
def fix() -> None:
    """List, apply, reject and roll back fixes."""


@fix.command("list")
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("--all", "show_all", is_flag=True, help="Include applied and rejected proposals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def fix_list(log_dir, show_all, as_json) -> None:
    """Show proposals awaiting approval.

    Example: adp fix list
    """
    items = list_pending(Path(log_dir or "logs"), include_done=show_all)
    if as_json:
        print_json([asdict(p) for p in items])
        return
    if not items:
        click.echo("No proposals awaiting approval.")
    for p in items:
        q = p.proposal
        click.echo(f"{q.id}  {p.status:<8} {q.rule:<28} confidence {q.confidence:.2f}  run {p.run_id}")
        click.echo(f"    {q.rationale}")
        click.echo("    " + p.diff.strip().replace("\n", "\n    "))


@fix.command("apply")
@workspace_options
@click.argument("proposal_id", required=False)
@click.option("--file", "proposal_file", type=click.Path(exists=True, dir_okay=False), help="A proposal JSON (e.g. from the diagnostician agent).")
@click.option("--mode", type=click.Choice(["autonomous", "human-in-loop"]), default=None, help="Mode for any further healing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run outcome as JSON.")
@handle_errors
def fix_apply(proposal_id, proposal_file, mode, as_json, **kw) -> None:
    """Apply a proposal with a backup, verify it by re-running the affected nodes, roll back if it fails.

    Every proposal passes the same guards as the rule engine's, judged on the parsed project before and
    after it. Exit: 0 green, 1 rolled back or still failing, 2 malformed, stale or refused proposal
    (the reason on stderr and in --json), 3 needs a person.

    Example: adp fix apply 3f2a9c1e   |   adp fix apply --file proposal.json
    """
    if bool(proposal_id) == bool(proposal_file):
        raise click.UsageError("give a proposal id or --file, not both")
    explicit = {k: kw[k] for k in ("project_dir", "profiles_dir", "target")}
    if proposal_id:
        pending = load(_log_dir(kw), proposal_id)
        if pending.status != "pending":
            raise FixError(f"proposal {proposal_id} was {pending.status}; it will not be applied")
        kw.update(
            project_dir=explicit["project_dir"] or pending.project_dir,
            profiles_dir=explicit["profiles_dir"] or pending.profiles_dir,
            target=explicit["target"] or pending.target,
        )
        ws = open_workspace(kw)
        outcome = apply_approved(ws, pending.proposal, pending.run_id, "human", mode, Progress(), notify=say)
        if outcome.status != "refused":
            mark(ws.log_dir, proposal_id, "applied")
    else:
        ws = open_workspace(kw)
        runs = read_history(ws.log_dir)
        if not runs:
            raise click.UsageError(f"no runs in {ws.log_dir}: run `adp run` first")
        proposal = proposal_from_file(ws.project, proposal_file)
        by = "agent" if proposal.source == "agent" else "human"
        outcome = apply_approved(ws, proposal, runs[-1].run_id, by, mode, Progress(), notify=say)
    if as_json:
        print_json(outcome.to_dict())
    else:
        _print_outcome(outcome)
    if outcome.status == "refused":
        click.echo(f"Error: {outcome.error}", err=True)
    sys.exit(outcome.exit_code)


def _log_dir(kw: dict[str, Any]) -> Path:
    return Path(kw["log_dir"] or "logs").resolve()


@fix.command("reject")
@click.argument("proposal_id")
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def fix_reject(proposal_id, log_dir, as_json) -> None:
    """Reject a proposal: it is kept for the record and never applied.

    Example: adp fix reject 3f2a9c1e
    """
    pending = mark(Path(log_dir or "logs").resolve(), proposal_id, "rejected")
    RunLog(Path(log_dir or "logs").resolve(), pending.run_id).emit("fix_rejected", proposal_id=proposal_id, by="human")
    if as_json:
        print_json({"proposal_id": proposal_id, "status": "rejected"})
    else:
        click.echo(f"Rejected {proposal_id}.")


@fix.command("rollback")
@workspace_options
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def fix_rollback(run_id, as_json, **kw) -> None:
    """Restore every file a run's fixes changed to what it was before that run.

    RUN_ID is a run of this log dir that applied fixes. Only files and hashes that adp's own run log
    recorded are restored, each through the same path checks as an edit; a backup that does not match
    its recorded sha256, or a file changed since the run, is refused before anything is written.
    Exit: 0 restored, 2 not a run id, unknown run, or refused.

    Example: adp fix rollback 20260101T120000-abc123
    """
    ws = open_workspace(kw)
    with WriterLock(ws.lock_path(), ws.config.execution.lock_timeout_seconds):
        files = rollback_run(ws.project, ws.log_dir, run_id, RunLog(ws.log_dir, run_id))
    if as_json:
        print_json({"run_id": run_id, "restored": files})
    else:
        click.echo(f"Restored {len(files)} file(s): " + ", ".join(files))


# -- Claude Code layer: `adp inspect`, `adp claude install` -------------------------------------------


@main.command()
@workspace_options
@click.argument("node")
@click.option("--run-id", default=None, help="Take the node's error message from this run (default: the most recent).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def inspect(node, run_id, as_json, **kw) -> None:
    """Show a node's file, compiled SQL, last error, upstream columns and tests (read-only).

    NODE is a unique_id or a name. The diagnostician agent's input (scripts/inspect_node.py).

    Example: adp inspect stg_orders --json
    """
    ctx = inspect_node(open_workspace(kw), node, run_id)
    if as_json:
        print_json(ctx.to_dict())
        return
    click.echo(f"{ctx.unique_id}  ({ctx.file or '?'})  status={ctx.status or '-'}")
    for up in ctx.upstream:
        cols = ", ".join(c.name for c in up.columns) or "?"
        click.echo(f"  upstream {up.name} [{up.columns_from}]: {cols}")
    click.echo(f"  downstream: {', '.join(ctx.downstream) or '-'}")
    click.echo(f"  tests: {len(ctx.tests)}")
    if ctx.message:
        click.echo("  " + ctx.message.strip().replace("\n", "\n  "))


@main.group()
def claude() -> None:
    """Claude Code layer: agents, skills and settings for a dbt repo."""


@claude.command("install")
@click.option("--project-dir", required=True, help="The repo to install into (holds or contains the dbt project).")
@click.option("--dbt-dir", default=None, help="The dbt project inside it (default: the one dbt_project.yml found).")
@click.option("--force", is_flag=True, help="Overwrite files adp did not write (or that changed since it wrote them).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def claude_install(project_dir, dbt_dir, force, as_json) -> None:
    """Copy the agents, skills, settings and scripts into an existing dbt repo.

    Refuses to overwrite files it did not write unless --force; records what it wrote with
    sha256 hashes in .claude/adp-install.json.

    Example: adp claude install --project-dir ../analytics
    """
    result = install(project_dir, dbt_dir, force)
    if as_json:
        print_json(asdict(result))
        return
    click.echo(f"installed into {result.repo_dir} (dbt project: {result.dbt_project_dir})")
    for label, items in (("wrote", result.written), ("overwrote", result.overwritten), ("unchanged", result.unchanged)):
        for rel in items:
            click.echo(f"  {label:<9} {rel}")
    click.echo("Next: open Claude Code there, trust the folder, and run /run-pipeline.")


# --- adp ingest (issue #7) -------------------------------------------------------------------------
@main.command()
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
@main.command()
@workspace_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: status and findings.")
@click.option("--accept", is_flag=True, help="After an intended change: make the current state the baseline.")
@handle_errors
def validate(as_json, accept, **kw) -> None:
    """Compare the warehouse now with the last good run: volumes, columns, NULLs, tests, freshness.

    Thresholds come from config/execution_mode.yml (`validate:`). Exit: 0 no error finding,
    1 an error finding, 2 usage/config error.

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
    if as_json:
        print_json({"status": "failed" if failed else "ok", "findings": [f.to_dict() for f in findings]})
    else:
        for f in findings:
            where = ".".join(p for p in (f.relation, f.column) if p)
            click.echo(f"{f.severity.upper():<5}  {where}  {f.message}" if where else f"{f.severity.upper():<5}  {f.message}")
        if not findings:
            click.echo("OK     no changes against the last good run")
    sys.exit(1 if failed else 0)


@main.command()
@workspace_options
@click.option("--open", "open_", is_flag=True, help="Open the report in the default browser.")
@handle_errors
def report(open_, **kw) -> None:
    """Write logs/report.html from the run log and the history DB (self-contained, no network).

    Example: adp report --open
    """
    from adp.report import write_report  # imports duckdb (the history DB): only for this command

    path = write_report(open_workspace(kw))
    click.echo(str(path))
    if open_:
        click.launch(path.as_uri())


# -- adp diagnose (issue 4) ---------------------------------------------------------------------------
@main.command()
@workspace_options
@click.option("--run-id", default=None, help="Run to diagnose (default: the most recent saved run).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of diagnoses (docs/diagnosis.md).")
@handle_errors
def diagnose(run_id, as_json, **kw) -> None:
    """Explain why a run failed: one typed, located diagnosis per root failure.

    Reads the saved RunResult of the run and the project's current target/ artifacts. Exit 0 when
    the run had nothing to diagnose, 1 when it did.

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
@main.command()
@workspace_options
@click.option("--lake-dir", default="data/lake", show_default=True, help="Where <table>/part-0.parquet folders go.")
@click.option("--schema", default="raw", show_default=True, help="Schema of the ingested tables to export.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: tables written.")
@handle_errors
def lake(lake_dir, schema, as_json, **kw) -> None:
    """Write the ingested tables of the profile's DuckDB file as Parquet folders (one per table).

    Spark targets read them as sources (see docs/spark.md). Run after `adp ingest`; pick the DuckDB
    output with --target when the profile's default target is not DuckDB.

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

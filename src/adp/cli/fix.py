"""`adp fix`: proposals awaiting a person, applying them, rejecting them, rolling a run back."""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from adp.apply import rollback_run
from adp.cli.options import handle_errors, open_workspace, print_json, workspace_options
from adp.cli.run import print_outcome
from adp.lock import WriterLock
from adp.pipeline import apply_approved, apply_pending
from adp.progress import Progress
from adp.proposals import list_pending, load, mark, proposal_from_file
from adp.runlog import RunLog
from adp.runlog import history as read_history


# --- adp fix: proposals awaiting a person, applying them, rolling back ---------------------------
@click.group(short_help="List, apply, reject and roll back fixes.")
def fix() -> None:
    """List, apply, reject and roll back fixes.

    Exit: 0 done, 1 a fix did not verify (rolled back) or the project still fails, 2 usage error or an
    unknown, stale, superseded or refused proposal or run id, 3 stopped for a person.

    Example: adp fix list   |   adp fix apply 3f2a9c1e04
    """


@fix.command("list", short_help="Proposals awaiting approval (--all: every one).")
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("--all", "show_all", is_flag=True, help="Include rejected, applied and superseded proposals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def fix_list(log_dir, show_all, as_json) -> None:
    """Show proposals awaiting approval (with --all: every proposal on record and its status).

    A proposal you answered no to at the prompt is `rejected` and can still be applied with
    `adp fix apply <id>`; one a later run made moot (its node passed or its file changed) is `superseded`.
    Exit: 0 listed (also when none), 2 usage error.

    Example: adp fix list --all
    """
    items = list_pending(Path(log_dir or "logs"), include_done=show_all)
    if as_json:
        print_json([asdict(p) for p in items])
        return
    if not items:
        click.echo("No proposals awaiting approval.")
    for p in items:
        q = p.proposal
        click.echo(f"{q.id}  {p.status:<10} {q.rule:<28} confidence {q.confidence:.2f}  run {p.run_id}")
        if p.reason:
            click.echo(f"    {p.reason}")
        click.echo(f"    {q.rationale}")
        click.echo("    " + p.diff.strip().replace("\n", "\n    "))


@fix.command("apply", short_help="Apply a proposal by id or --file, verify, roll back on failure.")
@workspace_options
@click.argument("proposal_id", required=False)
@click.option("--file", "proposal_file", type=click.Path(exists=True, dir_okay=False), help="A proposal JSON (e.g. from the diagnostician agent).")
@click.option("--mode", type=click.Choice(["autonomous", "human-in-loop"]), default=None, help="Mode for any further healing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run outcome as JSON.")
@handle_errors
def fix_apply(proposal_id, proposal_file, mode, as_json, **kw) -> None:
    """Apply a proposal with a backup, verify it by re-running the affected nodes, roll back if it fails.

    PROPOSAL_ID is a stored proposal (`adp fix list --all`): pending, or rejected at the prompt. Every
    proposal passes the same guards as the rule engine's, judged on the parsed project before and after it.
    A proposal whose file changed since it was made (fixed by hand, or by a later run), one already applied,
    superseded by a later run, or rejected with `adp fix reject` is refused before anything is written.
    Exit: 0 green, 1 rolled back or still failing, 2 unknown id, malformed, stale, superseded or refused
    proposal (the reason on stderr and in --json), 3 needs a person.

    Example: adp fix apply 3f2a9c1e   |   adp fix apply --file proposal.json
    """
    if bool(proposal_id) == bool(proposal_file):
        raise click.UsageError("give a proposal id or --file, not both")
    progress = Progress(first="verify")
    try:
        outcome = _apply(proposal_id, proposal_file, mode, progress, kw)
    finally:
        progress.end_line()
    if as_json:
        print_json(outcome.to_dict())
    elif outcome.status != "refused":  # a refusal ran nothing: no build to show, only the reason below
        print_outcome(outcome)
    if outcome.status == "refused":
        click.echo(f"Error: {outcome.error}", err=True)
    sys.exit(outcome.exit_code)


def _apply(proposal_id: str | None, proposal_file: str | None, mode: str | None, progress: Progress,
           kw: dict[str, Any]) -> Any:
    explicit = {k: kw[k] for k in ("project_dir", "profiles_dir", "target")}
    if proposal_id:
        pending = load(_log_dir(kw), proposal_id)
        kw.update(
            project_dir=explicit["project_dir"] or pending.project_dir,
            profiles_dir=explicit["profiles_dir"] or pending.profiles_dir,
            target=explicit["target"] or pending.target,
        )
        return apply_pending(open_workspace(kw), pending, mode, progress, notify=progress.say)
    ws = open_workspace(kw)
    runs = read_history(ws.log_dir)
    if not runs:
        raise click.UsageError(f"no runs in {ws.log_dir}: run `adp run` first")
    proposal = proposal_from_file(ws.project, proposal_file)
    by = "agent" if proposal.source == "agent" else "human"
    return apply_approved(ws, proposal, runs[-1].run_id, by, mode, progress, notify=progress.say)


def _log_dir(kw: dict[str, Any]) -> Path:
    return Path(kw["log_dir"] or "logs").resolve()


@fix.command("reject", short_help="Reject a proposal for good.")
@click.argument("proposal_id")
@click.option("--log-dir", default=None, help="adp log directory (default: ./logs).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
def fix_reject(proposal_id, log_dir, as_json) -> None:
    """Reject a proposal for good: it is kept for the record and never applied.

    (Answering no at the `Apply?` prompt also records it as rejected, but `adp fix apply <id>` still
    applies that one.) Exit: 0 rejected, 2 unknown id.

    Example: adp fix reject 3f2a9c1e
    """
    pending = mark(Path(log_dir or "logs").resolve(), proposal_id, "rejected", "rejected with `adp fix reject`", final=True)
    RunLog(Path(log_dir or "logs").resolve(), pending.run_id).emit("fix_rejected", proposal_id=proposal_id, by="human")
    if as_json:
        print_json({"proposal_id": proposal_id, "status": "rejected"})
    else:
        click.echo(f"Rejected {proposal_id}.")


@fix.command("rollback", short_help="Restore every file a run's fixes changed.")
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

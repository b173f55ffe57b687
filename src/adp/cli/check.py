"""`adp check`: the pre-flight binder pass."""
from __future__ import annotations

import sys

import click

from adp.cli.options import handle_errors, open_workspace, print_json, workspace_options


@click.command()
@workspace_options
@click.option("-s", "--select", multiple=True, help="dbt selector (repeatable; default: what changed since the last good run, and its children).")
@click.option("--vars", "vars_", default=None, help="dbt --vars (YAML/JSON string), as the next build gets them.")
@click.option("--proposal", "proposal_file", default=None, type=click.Path(dir_okay=False),
              help="Bind as if this proposal JSON (the FixProposal format) were applied; nothing is written or saved.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome.")
@handle_errors
def check(select, vars_, proposal_file, as_json, **kw) -> None:
    """Find binder, catalog and parser faults without building: compile what changed since the last good run
    and let the warehouse bind it (nothing runs, nothing is written). Findings are diagnosed and their fixes
    saved as proposals (`adp fix apply <id>`); no file is edited.

    With --proposal FILE it binds the project as if FILE were applied (what the diagnostician agent and the
    /diagnose skill use to try a proposal in a second instead of a build).

    Exit: 0 clean or nothing changed, 1 findings, 2 usage/config (an unreadable proposal included).

    Example: adp check --json
    """
    from adp.check.preflight import check as run_check
    from adp.proposals import proposal_from_file

    ws = open_workspace(kw)
    proposal = proposal_from_file(ws.project, proposal_file) if proposal_file else None
    outcome = run_check(ws, tuple(select), vars_, notify=lambda m: click.echo(m, err=True), proposal=proposal)
    if as_json:
        print_json(outcome.to_dict())
        sys.exit(outcome.exit_code)
    click.echo(f"{outcome.status.upper()}  {outcome.changes['reason']}  ({outcome.duration:.1f}s)")
    if outcome.status != "unchanged":
        click.echo(f"  bound {len(outcome.checked)} model(s) without running them; {len(outcome.not_checked)} not checked")
    for d in outcome.diagnoses:
        where = f"{d['file']}:{d['line']}" if d.get("line") else d.get("file") or "?"
        click.echo(f"  {d['category']}  {d.get('node') or '?'}  ({where})\n    {d['summary']}")
    for p in outcome.proposals:
        click.echo(f"  proposal {p['id']}: {p['rule']} on {p['file']} (confidence {p['confidence']:.2f}) -> adp fix apply {p['id']}")
    for n in outcome.not_checked:
        if not n["node"].startswith("test."):
            click.echo(f"  not checked: {n['node']}: {n['reason']}")
    if outcome.status != "unchanged":
        click.echo(f"  {outcome.note}")
    sys.exit(outcome.exit_code)

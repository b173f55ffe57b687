"""The Claude Code layer's command: `adp claude install` (`adp inspect` is in `cli.data`)."""
from __future__ import annotations

from dataclasses import asdict

import click

from adp.claude_install import install
from adp.cli.options import handle_errors, print_json


# -- Claude Code layer: `adp claude install` --------------------------------------------------------


@click.group()
def claude() -> None:
    """Claude Code layer: agents, skills and settings for a dbt repo."""


@claude.command("install")
@click.option("--repo", default=None, help="The repo to install into (holds or contains the dbt project).")
@click.option("--project-dir", "legacy_repo", default=None, hidden=True,
              help="Deprecated alias of --repo (elsewhere --project-dir names the dbt project).")
@click.option("--dbt-dir", default=None, help="The dbt project inside it (default: the one dbt_project.yml found).")
@click.option("--force", is_flag=True, help="Overwrite files adp did not write (or that changed since it wrote them).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def claude_install(repo, legacy_repo, dbt_dir, force, as_json) -> None:
    """Copy the agents, skills, settings and scripts into an existing dbt repo.

    Refuses to overwrite files it did not write unless --force; records what it wrote with
    sha256 hashes in .claude/adp-install.json. adp's rules go into the repo's CLAUDE.md between
    <!-- adp:begin --> and <!-- adp:end -->; a re-install replaces only that block.

    Example: adp claude install --repo ../analytics
    """
    if legacy_repo is not None:
        click.echo("Warning: `adp claude install --project-dir` is deprecated (everywhere else --project-dir "
                   "names the dbt project): use --repo.", err=True)
        if repo is not None and repo != legacy_repo:
            raise click.UsageError(f"--repo {repo} and --project-dir {legacy_repo} disagree; pass only --repo")
        repo = repo or legacy_repo
    if repo is None:
        raise click.UsageError("Missing option '--repo': the repo to install into.")
    result = install(repo, dbt_dir, force)
    if as_json:
        print_json(asdict(result))
        return
    click.echo(f"installed into {result.repo_dir} (dbt project: {result.dbt_project_dir})")
    for label, items in (("wrote", result.written), ("overwrote", result.overwritten), ("unchanged", result.unchanged)):
        for rel in items:
            click.echo(f"  {label:<9} {rel}")
    click.echo(f"  CLAUDE.md {result.claude_md} (adp's rules between <!-- adp:begin --> and <!-- adp:end -->)")
    click.echo("Next: open Claude Code there, trust the folder, and run /run-pipeline.")

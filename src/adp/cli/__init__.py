"""The `adp` command line: each command parses options, makes one library call, prints the result.

One module per command group (`run`, `fix`, `data`, `claude`) below this one, which assembles `main`;
the shared options and error handling are in `options`."""
from __future__ import annotations

import click

from adp.cli.check import check
from adp.cli.claude import claude, inspect
from adp.cli.data import diagnose, ingest, lake, report, validate
from adp.cli.fix import fix
from adp.cli.run import history, run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="adp")
def main() -> None:
    """Agentic Data Platform: run, diagnose and heal a dbt project on DuckDB."""


for command in (run, check, history, fix, inspect, claude, ingest, validate, report, diagnose, lake):
    main.add_command(command)

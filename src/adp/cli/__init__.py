"""The `adp` command line: each command parses options, makes one library call, prints the result.

One module per command group (`run`, `fix`, `data`, `check`, `claude`) below this one, which assembles
`main`; the shared options and error handling are in `options`."""
from __future__ import annotations

import click

from adp.cli.check import check
from adp.cli.claude import claude
from adp.cli.data import diagnose, ingest, inspect, lake, report, validate
from adp.cli.fix import fix
from adp.cli.options import EXIT_CODES
from adp.cli.run import history, run

EPILOG = f"""\b
Examples:
  adp run                                    build ./dbt, heal what fails
  adp run --mode human-in-loop               ask `Apply? [y/N]` before each fix
  adp fix list && adp fix apply <id>         apply a proposal later
  adp history -n 5                           the last five runs, newest first
  adp run --json | jq .status                one JSON object on stdout

\b
{EXIT_CODES}
Under --json an error is one object on stdout: {{"error": ..., "exit_code": ...}}."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(package_name="adp")
def main() -> None:
    """Agentic Data Platform: run, diagnose and heal a dbt project on DuckDB.

    Every command takes --project-dir (default ./dbt), --profiles-dir, --target, --config-dir (default
    ./config) and --log-dir (default ./logs); `adp <command> --help` shows its options and exit codes.
    """


check.short_help = check.short_help or "Find binder, catalog and parser faults without building."
for command in (run, check, history, fix, inspect, claude, ingest, validate, report, diagnose, lake):
    main.add_command(command)

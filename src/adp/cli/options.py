"""What every `adp` command shares: the workspace options, error handling and JSON output."""
from __future__ import annotations

import functools
import json
import signal
import sys
from typing import Any, Callable

import click

from adp.errors import AdpError, Interrupted
from adp.workspace import Workspace

EXIT_CODES = """Exit codes (the same for every command):
  0        green: success, healed, done
  1        still failing (or a fix did not verify and was rolled back)
  2        usage or config error, an unknown run or proposal id, a refused proposal
  3        stopped for a person (a proposal awaits `adp fix apply`)
  130/143  interrupted (SIGINT/SIGTERM)"""


def _fail(exc: Exception, code: int, as_json: bool) -> None:
    """One message on stderr, and with --json also one {"error", "exit_code"} object on stdout; then exit `code`."""
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    if as_json:
        print_json({"error": message, "exit_code": code})
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: Callable) -> Callable:
    """Turn library exceptions into one message (stderr, or JSON on stdout under --json) and their exit code.

    A click usage error raised by the command's own checks (not by option parsing, which click reports
    before the command runs) is reported the same way, with exit 2.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except AdpError as exc:
            _fail(exc, exc.exit_code, as_json)
        except click.UsageError as exc:
            if not as_json:
                raise
            _fail(exc, exc.exit_code, as_json)
        except (Interrupted, KeyboardInterrupt) as exc:  # dbt has been stopped; the run is logged as interrupted
            code = getattr(exc, "exit_code", 130)  # on stderr even under --json: no half outcome on stdout
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

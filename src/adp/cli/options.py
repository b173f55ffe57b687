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

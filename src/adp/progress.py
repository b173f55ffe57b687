"""What the CLI injects into the library to talk to a person: live progress from dbt's JSON log (node i/N,
name, status, seconds; a bar on a TTY, lines otherwise), notes on stderr, and the approval prompt."""
from __future__ import annotations

import sys
from typing import Any, TextIO

import click

from adp.artifacts import RESULT_EVENTS
from adp.models import Diagnosis, FixProposal


def say(message: str) -> None:
    """A note for the person at the terminal (e.g. waiting for the writer lock), on stderr."""
    click.echo(f"adp: {message}", err=True)


def ask_approval(diag: Diagnosis, p: FixProposal, diff: str) -> bool:
    """Show a fix (diagnosis, coloured diff, rule and confidence) on stderr and ask `Apply? [y/N]`; a no
    keeps it on record as rejected (the library does), so say how to apply it later."""
    click.echo(click.style(f"\n{diag.category}: {diag.summary}", bold=True), err=True)
    if diag.file:
        click.echo(f"  in {diag.file}" + (f" line {diag.line}" if diag.line else ""), err=True)
    for line in diff.splitlines():
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        click.echo(click.style(line, fg=colour), err=True)
    if p.action:
        click.echo(f"  run action: {p.action}", err=True)
    click.echo(f"  rule {p.rule}, confidence {p.confidence:.2f}: {p.rationale}", err=True)
    if click.confirm("Apply?", default=False, err=True):
        return True
    click.echo(f"  not applied; kept as rejected proposal {p.id}: `adp fix apply {p.id}` applies it later", err=True)
    return False


class Progress:
    """An event handler for Engine.invoke that writes progress to `stream` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, label: str = ""):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.label = label
        self.done = 0
        self.total = 0

    def __call__(self, event: dict[str, Any]) -> None:
        name = event["info"].get("name")
        data = event.get("data", {})
        if name == "ConcurrencyLine":
            self.total = int(data.get("node_count") or 0)
        elif name in RESULT_EVENTS and name != "NodeFinished":
            self.done += 1
            self.total = max(self.total, int(data.get("total") or 0), self.done)
            node = data.get("node_info", {})
            self._line(node.get("node_name", "?"), str(node.get("node_status", "")), float(data.get("execution_time") or 0))
        elif name == "MainEncounteredError":
            self._finish()

    def _line(self, node: str, status: str, seconds: float) -> None:
        text = f"{self.label}{self.done:>4}/{self.total:<4} {status:<8} {node} ({seconds:.2f}s)"
        if self.tty:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r\x1b[2K[{bar}] {text}")
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def _finish(self) -> None:
        if self.tty and 0 < self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()

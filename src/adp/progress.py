"""What the CLI injects into the library to talk to a person: live progress from dbt's JSON log (phase, node
i/N, status, name, seconds; a bar on a TTY, lines otherwise), notes on stderr, and the approval prompt.

On a TTY the bar line is redrawn in place, but, as dbt does, a line whose node errored, failed or warned is
kept on screen; anything else written to the terminal (a note, the prompt, the outcome) first ends the bar line.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

import click

from adp.artifacts import RESULT_EVENTS
from adp.models import Diagnosis, FixProposal

KEPT_STATUSES = ("error", "fail", "warn", "runtime error")  # lines that stay on screen, as dbt prints them
PROGRESS_EVENTS = RESULT_EVENTS - {"NodeFinished"} | {"SkippingDetails"}  # one per node, with index/total


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
    """An event handler for Engine.invoke that writes progress to `stream` (stderr by default).

    Each dbt invocation is a phase with its own counter: the first one that reports nodes is `first`
    (`build` for `adp run`), every later one `verify` (the re-runs that check a fix). Call `end_line()`
    (or use `say`/`approve` of this object) before writing anything else to the terminal.
    """

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, label: str = "", first: str = "build"):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.label = label
        self.first = first
        self.phase = ""
        self.phases = 0  # invocations that reported nodes so far
        self.invocation: str | None = None
        self.done = 0
        self.total = 0
        self._open = False  # a bar line is on screen without its newline

    def __call__(self, event: dict[str, Any]) -> None:
        info = event["info"]
        name = info.get("name")
        data = event.get("data", {})
        if info.get("invocation_id") != self.invocation:  # a new dbt invocation: a new phase, a new counter
            self.end_line()
            self.invocation = info.get("invocation_id")
            self.phase, self.done, self.total = "", 0, 0
        if name == "ConcurrencyLine":
            self.total = int(data.get("node_count") or 0)
        elif name in PROGRESS_EVENTS:
            if not self.phase:
                self._start_phase()
            self.done += 1
            self.total = max(self.total, int(data.get("total") or 0), self.done)
            node = data.get("node_info", {})
            status = "skip" if name == "SkippingDetails" else str(node.get("node_status", ""))
            self._line(node.get("node_name", "?"), status, float(data.get("execution_time") or 0))
        elif name == "MainEncounteredError":
            self.end_line()

    def _start_phase(self) -> None:
        self.phases += 1
        self.phase = self.first if self.phases == 1 else "verify"
        if self.phases > 1 or self.first != "build":
            self.end_line()
            what = "re-running what the fix can affect" if self.phase == "verify" else self.phase
            self.stream.write(f"{self.label}{self.phase}: {what}\n")

    def _line(self, node: str, status: str, seconds: float) -> None:
        text = f"{self.label}{self.phase:<6} {self.done:>4}/{self.total:<4} {status:<8} {node} ({seconds:.2f}s)"
        if not self.tty:
            self.stream.write(text + "\n")
        else:
            width = 24
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r\x1b[2K[{bar}] {text}")
            self._open = True
            if status.lower() in KEPT_STATUSES or self.done >= self.total:
                self.stream.write("\n")  # kept on screen; the next node's bar starts below it
                self._open = False
        self.stream.flush()

    def end_line(self) -> None:
        """End a bar line left open on a TTY, so that what follows starts on its own line."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def say(self, message: str) -> None:
        self.end_line()
        say(message)

    def approve(self, diag: Diagnosis, p: FixProposal, diff: str) -> bool:
        self.end_line()
        return ask_approval(diag, p, diff)

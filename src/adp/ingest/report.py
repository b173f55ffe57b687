"""Human-readable ingest output: one line per load and live progress lines (for the CLI and scripts)."""
from __future__ import annotations

import sys
from typing import Any, Callable, TextIO


def format_load(load: dict[str, Any]) -> str:
    """`loaded   raw.events  8 rows, 1 file(s), 0.4 MB, 0.02s` plus rejects, drift, warnings and errors below.

    A source whose path or pattern matches nothing shows as `missing` with the reason below it.
    """
    what = load["table"] or load["source"]
    if load["status"] in ("skipped", "disabled"):
        lines = [f"{load['status']:<8} {what}  ({load.get('note') or ''})"]
    elif load["status"] == "missing":
        required = " (required)" if load.get("error") else ""
        lines = [f"missing  {what}  no input{required}; nothing loaded, the table is left as it was"]
    else:
        mb, secs = load["bytes"] / 1e6, load["seconds"]
        rate = f", {mb / secs:.1f} MB/s" if secs and mb >= 1 else ""
        lines = [f"{load['status']:<8} {what}  {load['rows']} rows, {load['files']} file(s), {mb:.1f} MB, {secs:.2f}s{rate}"]
    if load.get("rejects"):
        lines.append(f"         {load['rejects']} malformed row(s) kept aside:")
        lines += [f"           {r['file']}:{r['line']}: {r['error']}" for r in load.get("rejected", [])]
    if load.get("drift"):
        d = load["drift"]
        lines.append(f"         schema drift: added {d['added']}, removed {d['removed']}, changed {d['changed']}")
    lines += [f"         warning: {w}" for w in load.get("warnings", [])]
    if load.get("error"):
        lines.append("         error: " + load["error"].replace("\n", "\n         "))
    return "\n".join(lines)


def progress_printer(stream: TextIO | None = None) -> Callable[[dict[str, Any]], None]:
    """A progress handler: tables done of total, files and MB being read, API pages and rows, MB/s.

    On a terminal, API page counts overwrite one line; otherwise every 10th page is printed.
    """
    out = stream or sys.stderr
    tty = out.isatty()
    current = {"job": "", "open_line": False}

    def write(text: str, overwrite: bool = False) -> None:
        if overwrite:
            out.write("\r\x1b[2K" + text)
        else:
            out.write(("\n" if current["open_line"] else "") + text + "\n")
        current["open_line"] = overwrite
        out.flush()

    def show(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "job":
            current["job"] = f"[{event['number']}/{event['total']}]"
        elif kind == "load_started":
            write(f"{current['job']} loading {event['table']}: {event['files']} file(s)/page(s), {event['bytes'] / 1e6:.1f} MB")
        elif kind == "load_finished" and event["seconds"] >= 1:
            write(f"{current['job']} loaded {event['table']}: {event['rows']} rows in {event['seconds']:.1f}s ({event['mb_per_s']} MB/s)")
        elif kind == "page" and (tty or event["page"] % 10 == 0):
            write(f"{current['job']} fetching {event['table']}: page {event['page']}, {event['rows']} rows "
                  f"({event['mb_per_s']} MB/s)", overwrite=tty)

    return show

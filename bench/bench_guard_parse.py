"""The effect guard's extra `dbt parse` in a heal cycle / one warm full `dbt build`.

Every fix is parsed once after it is written (the guard compares that manifest with the one before
the fix); the build that verifies the fix then reuses that parse through dbt's partial parsing. Each
repetition, interleaved: a warm full `dbt build`, then `adp run --mode autonomous` on a one-model fault
with each engine; from adp's run log: the guard's parse, the verifying build and the whole cycle.

    .venv/bin/python bench/bench_guard_parse.py --models 1000 --repeat 3
"""
from __future__ import annotations

import json
import shlex
import sys

from common import Row, Workspace, adp_run, dbt, machine, prepare, print_table, workspace, workspace_parser

ENGINES = ("subprocess", "in_process")


def heal(ws: Workspace, engine: str) -> tuple[float, float, float]:
    """(whole cycle, the guard's parse, the verifying build) in seconds, for one healed fault."""
    ws.fault.inject()
    try:
        r = adp_run(ws, "--mode", "autonomous", engine=engine, ok=(0, 1, 3))
    finally:
        if ws.fault.new in ws.fault.file.read_text(encoding="utf-8"):
            ws.fault.repair()
    if r.outcome["status"] != "healed":
        raise RuntimeError(f"adp ({engine}) did not heal the fault: {json.dumps(r.outcome)[:2000]}")
    events = [json.loads(line) for line in open(r.outcome["log_path"], encoding="utf-8")]
    mine = [e for e in events if e.get("run_id") == r.outcome["run_id"]]
    parse = sum(e["elapsed"] for e in mine if e["event"] == "fix_parsed")
    builds = [e["elapsed"] for e in mine if e["event"] == "dbt_finished"]
    return r.seconds, parse, builds[-1]


def main(argv: list[str] | None = None) -> None:
    args = workspace_parser(__doc__.split("\n")[0]).parse_args(argv)
    ws = workspace(args.project, args.models, args.root)
    print(f"$ {shlex.join(['python', *sys.argv])}\n{ws.label} at {ws.root}; {machine()}")
    prepare(ws, ENGINES)
    dbt(ws, "build")
    full = Row("warm full dbt build")
    rows = {e: (Row(f"adp heal cycle ({e})"), Row(f"  guard's dbt parse ({e})"), Row(f"  verifying build ({e})"))
            for e in ENGINES}
    for rep in range(args.repeat):
        full.values.append(dbt(ws, "build")[1])
        for engine in ENGINES if rep % 2 == 0 else reversed(ENGINES):
            for row, value in zip(rows[engine], heal(ws, engine)):
                row.values.append(value)
        print(f"\n== after repetition {rep + 1}/{args.repeat}")
        print_table("the guard's parse in a heal cycle / one warm full dbt build", [full, *(r for e in ENGINES for r in rows[e])], full)


if __name__ == "__main__":
    main()

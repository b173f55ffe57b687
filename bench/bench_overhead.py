"""P2 and P5: `adp run` on a green project vs raw `dbt build`, side by side; adp's own peak RSS.

Also compares dbt's log formats (text on stdout, `--log-format json` as adp's subprocess engine uses,
and `--log-format-file json` with text on stdout), each a full warm build of the same project.

    .venv/bin/python bench/bench_overhead.py --models 1000 --repeat 3
"""
from __future__ import annotations

import shlex
import sys

from common import Row, adp_run, dbt, machine, prepare, print_table, workspace, workspace_parser


def main(argv: list[str] | None = None) -> None:
    parser = workspace_parser(__doc__.split("\n")[0])
    parser.add_argument("--engines", default="subprocess", help="adp engines to run, comma-separated")
    parser.add_argument("--no-json-file", action="store_true", help="leave out the --log-format-file json row")
    args = parser.parse_args(argv)
    engines = tuple(args.engines.split(","))
    ws = workspace(args.project, args.models, args.root)
    print(f"$ {shlex.join(['python', *sys.argv])}\n{ws.label} at {ws.root}; {machine()}")
    prepare(ws, engines)
    dbt(ws, "build")  # warm: partial parse state and every relation exist

    raw = Row("dbt build (text log)")
    js = Row("dbt build --log-format json")
    js_file = Row("dbt build --log-format-file json")
    adp = {e: Row(f"adp run ({e} engine)") for e in engines}
    rss = {e: Row(f"adp peak RSS ({e} engine)") for e in engines}

    def run_adp(engine: str) -> None:
        r = adp_run(ws, engine=engine)
        assert r.outcome["status"] == "success", r.outcome
        adp[engine].values.append(r.seconds)
        rss[engine].values.append(r.peak_rss_mib)

    steps = [
        lambda: raw.values.append(dbt(ws, "build")[1]),
        lambda: js.values.append(dbt(ws, "build", "--log-format", "json")[1]),
        *[lambda e=e: run_adp(e) for e in engines],
    ]
    if not args.no_json_file:
        steps.insert(2, lambda: js_file.values.append(dbt(ws, "build", "--log-format-file", "json")[1]))
    for rep in range(args.repeat):
        for step in steps if rep % 2 == 0 else reversed(steps):  # alternate the order against drift
            step()
        print(f"\n== after repetition {rep + 1}/{args.repeat}")
        print_table("P2  adp run on a green project / raw dbt build (same flags, default config)",
                    [raw, *adp.values()], raw)
        print_table("log format: dbt build with each log format / text", [raw, js] + ([js_file] if js_file.values else []), raw)
        print_table("P5  peak RSS of the adp process itself (RUSAGE_SELF)", list(rss.values()), None, unit="MiB")


if __name__ == "__main__":
    main()

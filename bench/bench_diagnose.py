"""P3: diagnosis time (fresh process, manifest load included) as a fraction of one warm `dbt build`, and the
binder judge's time per diagnosis (issue 17).

    .venv/bin/python bench/bench_diagnose.py --models 1000 --repeat 3
    .venv/bin/python bench/bench_diagnose.py --project sample

Generates a project (bench/gen_project.py), builds it green, then per repetition: one warm full
`dbt build`, the fault injected, the failing build run through adp's engine (RunResult saved), and
`bench/diagnose_timer.py` in a fresh process. Prints the medians and the ratio for docs/benchmarks.md.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench_heal import failing_build
from common import BENCH, dbt, machine, prepare, run, workspace, workspace_parser


def main(argv: list[str] | None = None) -> None:
    parser = workspace_parser(__doc__.splitlines()[0])
    parser.set_defaults(models=1000)
    args = parser.parse_args(argv)
    ws = workspace(args.project, args.models, args.root)
    print(f"{ws.label} at {ws.root}; {machine()}")
    prepare(ws)
    log_dir = Path(tempfile.mkdtemp(prefix="adp-bench-diag-"))
    builds, diagnoses, imports, binds, queries, proposes = [], [], [], [], [], []
    for rep in range(args.repeat):
        builds.append(dbt(ws, "build")[1])
        ws.fault.inject()
        try:
            failing_build(ws, log_dir, f"diag{rep}")
            _, _, out = run([sys.executable, str(BENCH / "diagnose_timer.py"), str(ws.project), str(log_dir), f"diag{rep}"], ws.root)
        finally:
            ws.fault.repair()
        timing = json.loads(out)
        diagnoses.append(timing["diagnose_s"])
        imports.append(timing["import_s"])
        proposes.append(timing["propose_s"])
        binds.append(sum(s for _, s in timing["bind_calls"]))
        queries.append(sum(n for n, _ in timing["bind_calls"]))
        print(f"  rep {rep}: warm build {builds[-1]:.2f}s, diagnose {timing['diagnose_s']:.3f}s "
              f"(import {timing['import_s']:.3f}s) -> {timing['categories']}; propose {timing['propose_s']:.3f}s, "
              f"binder {len(timing['bind_calls'])} call(s), {queries[-1]} queries, {binds[-1]:.3f}s -> {timing['proposals']}")
    build, diag = statistics.median(builds), statistics.median(diagnoses)
    print(f"median warm dbt build {build:.2f}s; median diagnose {diag:.3f}s (+ import {statistics.median(imports):.3f}s); "
          f"P3 = diagnose / build = {diag / build:.1%}")
    bound, n = statistics.median(binds), statistics.median(queries)
    print(f"median propose {statistics.median(proposes):.3f}s; binder per diagnosis {bound:.3f}s = {bound / build:.2%} of the build, "
          f"{n:.0f} queries bound, {1000 * bound / max(n, 1):.1f} ms per query (the connect included)")


if __name__ == "__main__":
    main()

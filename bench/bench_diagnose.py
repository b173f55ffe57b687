"""P3: diagnosis time (fresh process, manifest load included) as a fraction of one warm `dbt build`.

    .venv/bin/python bench/bench_diagnose.py --models 1000 --repeat 3

Generates a project (bench/gen_project.py), builds it green, then per repetition: one warm full
`dbt build`, the fault injected, the failing build run through adp's engine (RunResult saved), and
`bench/diagnose_timer.py` in a fresh process. Prints the medians and the ratio for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench_heal import failing_build
from common import BENCH, dbt, machine, prepare, run, workspace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=None, help="workspace directory (default: a new temp dir)")
    args = parser.parse_args(argv)
    ws = workspace("generated", args.models, args.root)
    print(f"{ws.label} at {ws.root}; {machine()}")
    prepare(ws)
    log_dir = Path(tempfile.mkdtemp(prefix="adp-bench-diag-"))
    builds, diagnoses, imports = [], [], []
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
        print(f"  rep {rep}: warm build {builds[-1]:.2f}s, diagnose {timing['diagnose_s']:.3f}s "
              f"(import {timing['import_s']:.3f}s) -> {timing['categories']}")
    build, diag = statistics.median(builds), statistics.median(diagnoses)
    print(f"median warm dbt build {build:.2f}s; median diagnose {diag:.3f}s (+ import {statistics.median(imports):.3f}s); "
          f"P3 = diagnose / build = {diag / build:.1%}")


if __name__ == "__main__":
    main()

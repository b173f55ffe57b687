"""DuckDB and Spark side by side: `dbt build` of the sample project and of a generated project.

For each project the same dbt code is built on its DuckDB target and on a `spark` target (dbt-spark
`method: session`, shuffle partitions 1, a warehouse dir and Derby metastore in the project), in one
run, interleaved repetition by repetition. Sources reach Spark as Parquet folders (`adp lake`).
Needs the `[spark]` extra and Java 17.

    .venv/bin/python bench/bench_spark.py --models 100 --repeat 2
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import BIN, ENV, REPO, generate  # noqa: F401  (common puts bench/ on sys.path)

SPARK_OUTPUT = """\
    spark:
      type: spark
      method: session
      host: localhost
      schema: main
      threads: 1
      server_side_parameters:
        spark.sql.warehouse.dir: spark/warehouse
        spark.hadoop.javax.jdo.option.ConnectionURL: "jdbc:derby:;databaseName=spark/metastore_db;create=true"
        spark.sql.shuffle.partitions: "1"
        spark.ui.enabled: "false"
"""


def _run(cmd: list[str], cwd: Path) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - t0


def _node_seconds(project: Path) -> tuple[int, float]:
    """Nodes of the last build and the sum of their execution times (dbt's run_results.json)."""
    results = json.loads((project / "target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    return len(results), sum(r["execution_time"] for r in results)


def prepare_sample(root: Path) -> Path:
    """The sample project (already Spark-ready), ingested and landed in the lake."""
    shutil.copytree(REPO / "dbt", root / "dbt", ignore=shutil.ignore_patterns("target", "logs", "spark", "*.duckdb*"))
    shutil.copytree(REPO / "data" / "raw", root / "data" / "raw")
    shutil.copytree(REPO / "config", root / "config")
    _run([str(BIN / "adp"), "ingest", "--all"], root)
    _run([str(BIN / "adp"), "lake"], root)
    return root / "dbt"


def prepare_generated(root: Path, models: int) -> Path:
    """bench/gen_project.py's project plus a spark output and the lake hook (models are already portable)."""
    gen = generate(root, models)
    project = gen.project_dir
    with (project / "profiles.yml").open("a", encoding="utf-8") as fh:
        fh.write(SPARK_OUTPUT)
    (project / "macros").mkdir(exist_ok=True)
    shutil.copy(REPO / "dbt" / "macros" / "lake_sources.sql", project / "macros" / "lake_sources.sql")
    with (project / "dbt_project.yml").open("a", encoding="utf-8") as fh:
        fh.write('on-run-start:\n  - "{{ lake_sources() }}"\n')
    _run([str(BIN / "adp"), "ingest", "--all"], root)
    _run([str(BIN / "adp"), "lake"], root)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        projects = {"sample project (dbt/)": prepare_sample(Path(tmp) / "sample"),
                    f"generated, {args.models} models": prepare_generated(Path(tmp) / "gen", args.models)}
        for label, project in projects.items():
            times: dict[str, list[float]] = {"duckdb": [], "spark": []}
            per_node: dict[str, list[float]] = {"duckdb": [], "spark": []}
            for _ in range(args.repeat):
                for engine, target in (("duckdb", "dev"), ("spark", "spark")):
                    times[engine].append(_run([str(BIN / "dbt"), "build", "--target", target], project))
                    nodes, busy = _node_seconds(project)
                    per_node[engine].append(busy / nodes)
            rows.append((label, nodes, times, per_node))
    print("| project | nodes | DuckDB `dbt build` s | Spark `dbt build` s | Spark / DuckDB "
          "| DuckDB s per node | Spark s per node |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, nodes, t, n in rows:
        d, s = statistics.median(t["duckdb"]), statistics.median(t["spark"])
        print(f"| {label} | {nodes} | {d:.1f} ({min(t['duckdb']):.1f}-{max(t['duckdb']):.1f}) "
              f"| {s:.1f} ({min(t['spark']):.1f}-{max(t['spark']):.1f}) | {s / d:.1f}x "
              f"| {statistics.median(n['duckdb']):.3f} | {statistics.median(n['spark']):.3f} |")
    print("\nPer node: the median over repetitions of (sum of run_results.json execution_time) / nodes.")
    print(f"\nMachine: {platform.machine()}, Python {platform.python_version()}, median (min-max) of {args.repeat}.")


if __name__ == "__main__":
    main()

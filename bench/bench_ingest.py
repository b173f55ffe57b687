#!/usr/bin/env python3
"""P4 benchmark: `adp ingest` throughput on a generated ~1 GB CSV set vs a bare DuckDB CTAS over read_csv.

Both load the same files into a fresh DuckDB file, alternating, `--repeat` times each; the best time of each
is compared (goal: adp >= 0.9x the bare load). Results go to docs/benchmarks.md under "P4 ingestion"
(that section only is replaced; other sections are kept).

Usage:
    .venv/bin/python bench/bench_ingest.py                 # ~1 GB in 8 files, 2 rounds
    .venv/bin/python bench/bench_ingest.py --size-mb 50 --no-docs
"""
from __future__ import annotations

import argparse
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from ingest_helpers import make_repo  # noqa: E402  (the tests' throwaway repo layout)

from adp.ingest import run_ingest  # noqa: E402

HEADING = "## P4 ingestion"
ROW_BYTES = 81  # approximate size of one generated CSV row


def generate(folder: Path, size_mb: int, files: int) -> list[Path]:
    """`files` CSV files of about size_mb/files MB each: ids, timestamps, text, decimals, a nullable column."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = size_mb * 1_000_000 // ROW_BYTES // files
    paths = []
    for i in range(files):
        path = folder / f"events_{i:02d}.csv"
        duckdb.sql(f"""
            COPY (SELECT {i} * {rows} + range AS event_id,
                         TIMESTAMP '2024-01-01' + to_seconds(range % 31536000) AS happened_at,
                         'user_' || (range * 7919 % 100000) AS user_name,
                         ['click', 'view', 'purchase', 'refund'][(range % 4) + 1] AS kind,
                         round((range % 100000) / 100.0, 2) AS amount,
                         CASE WHEN range % 10 = 0 THEN NULL ELSE md5(range::VARCHAR) END AS note
                  FROM range({rows})) TO '{path}' (HEADER, DELIMITER ',')""")
        paths.append(path)
    return paths


def bare(files: list[Path], db: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the bare CTAS."""
    db.unlink(missing_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    with duckdb.connect(str(db)) as conn:
        conn.execute(f"CREATE TABLE events AS SELECT * FROM read_csv({[str(p) for p in files]})")
    return time.perf_counter() - t0, time.process_time() - c0


def adp(root: Path, db: Path) -> tuple[float, float, int]:
    """(wall, CPU) seconds and rows of `adp ingest` (the library call behind the command)."""
    db.unlink(missing_ok=True)
    ws = make_repo(root, "sources:\n  files:\n    events: {path: data, pattern: 'events_*.csv', table: events}\n")
    t0, c0 = time.perf_counter(), time.process_time()
    (summary,) = run_ingest(ws)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if summary.status != "loaded":
        raise SystemExit(f"adp ingest failed: {summary.error}")
    return wall, cpu, summary.rows


def write_docs(text: str) -> Path:
    path = REPO / "docs" / "benchmarks.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda m: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the generated files here (default: a temp dir)")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="adp-bench-"))
    root = tmp / "repo"
    data = root / "data"
    files = sorted(data.glob("events_*.csv")) or generate(data, args.size_mb, args.files)
    size = sum(p.stat().st_size for p in files)
    db = root / "dbt" / "wh.duckdb"
    bare_times, adp_times, bare_cpu, adp_cpu, rows = [], [], [], [], 0
    for _ in range(args.repeat):
        wall, cpu = bare(files, tmp / "bare.duckdb")
        bare_times.append(wall)
        bare_cpu.append(cpu)
        wall, cpu, rows = adp(root, db)
        adp_times.append(wall)
        adp_cpu.append(cpu)
    b, a = min(bare_times), min(adp_times)
    ratio, cpu_ratio = b / a, min(bare_cpu) / min(adp_cpu)
    text = f"""{HEADING}

`adp ingest` (one `files` source, the {len(files)} files into one table) against a bare
`CREATE TABLE events AS SELECT * FROM read_csv([...])` on the same files, in the same run, each into a
fresh DuckDB file; best of {args.repeat}. Command: `.venv/bin/python bench/bench_ingest.py`
(`--size-mb {args.size_mb} --files {args.files}`).

| load | seconds | MB/s | rows |
|---|---:|---:|---:|
| bare DuckDB CTAS over read_csv | {b:.2f} | {size / 1e6 / b:.0f} | {rows:,} |
| `adp ingest` (staging, rejects, metadata, swap, `_loads`) | {a:.2f} | {size / 1e6 / a:.0f} | {rows:,} |

Throughput ratio adp / bare: **{ratio:.2f}x** wall clock (goal >= 0.90x) on {size / 1e6:.0f} MB of CSV;
{cpu_ratio:.2f}x by CPU time (less sensitive to other load on the machine).
All runs, wall: bare {', '.join(f'{t:.2f}' for t in bare_times)} s; adp {', '.join(f'{t:.2f}' for t in adp_times)} s.
All runs, CPU: bare {', '.join(f'{t:.2f}' for t in bare_cpu)} s; adp {', '.join(f'{t:.2f}' for t in adp_cpu)} s.
Machine: {platform.machine()}, {platform.system()} {platform.release()}, Python {platform.python_version()},
DuckDB {duckdb.__version__}; 2 cores shared with other work, so timings are noisy.
"""
    print(text)
    if not args.no_docs:
        print(f"updated {write_docs(text)}")
    if args.workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

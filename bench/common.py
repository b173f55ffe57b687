"""Shared pieces of the benchmark commands: workspaces, timed dbt/adp runs, side-by-side tables.

Every figure is a wall time measured from this process around a child process (so interpreter
start-up and dbt's import are included, as a user would see them). Rows of one comparison are run
interleaved, repetition by repetition, and reported as median (min-max) with the ratio of medians.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from gen_project import generate  # noqa: E402

BIN = Path(sys.executable).parent
READY = ".bench-ready"  # marker of a prepared workspace: "<kind> <models>"
ENV = {**os.environ, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}


@dataclass(frozen=True)
class Fault:
    """A one-model fault: replace `old` by `new` (first occurrence) in `file`."""

    file: Path
    old: str
    new: str

    def inject(self) -> None:
        text = self.file.read_text(encoding="utf-8")
        assert self.old in text, f"{self.file} does not contain {self.old!r}"
        self.file.write_text(text.replace(self.old, self.new, 1), encoding="utf-8")

    def repair(self) -> None:
        text = self.file.read_text(encoding="utf-8")
        self.file.write_text(text.replace(self.new, self.old, 1), encoding="utf-8")


@dataclass
class Workspace:
    """A benchmark workspace: <root>/dbt (project), <root>/config, <root>/data, <root>/logs."""

    root: Path
    fault: Fault
    label: str
    marker: str
    ready: bool = False  # prepared by an earlier benchmark run (`--root` of an existing workspace)

    @property
    def project(self) -> Path:
        return self.root / "dbt"

    @property
    def selector(self) -> str:
        """What adp's heal loop re-runs after fixing the fault's file: its node and descendants."""
        return f"path:{self.fault.file.relative_to(self.project)}+"


def workspace_parser(description: str) -> "argparse.ArgumentParser":
    """The options every generated-workspace benchmark takes: --project, --models, --repeat, --root."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--project", choices=["generated", "sample"], default="generated")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=None, help="workspace directory (default: a new temp dir)")
    return parser


def workspace(kind: str, models: int, root: Path | None = None) -> Workspace:
    """`generated` (N models from gen_project) or `sample` (a copy of this repo's dbt/ shop project)."""
    root = Path(root or tempfile.mkdtemp(prefix=f"adp-bench-{kind}-"))
    marker = f"{kind} {models}"
    if (root / READY).is_file() and (root / READY).read_text() == marker:
        return _reuse(root, kind, models)
    if kind == "sample":
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        shutil.copytree(REPO / "dbt", root / "dbt", ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
        shutil.copytree(REPO / "data", root / "data")
        (root / "config").mkdir()
        shutil.copy(REPO / "config" / "sources.yml", root / "config" / "sources.yml")
        fault = Fault(root / "dbt" / "models" / "staging" / "stg_customers.sql", "    first_name,\n", "    frist_name,\n")
        return Workspace(root, fault, "sample project (dbt/)", marker)
    gen = generate(root, models)
    fault = Fault(gen.model_file(gen.fault_model()), "p0.amount", "p0.amuont")
    return Workspace(root, fault, f"generated, {models} models", marker)


def _reuse(root: Path, kind: str, models: int) -> Workspace:
    """A workspace a previous benchmark prepared (same kind and size): no regeneration, no cold build."""
    if kind == "sample":
        fault = Fault(root / "dbt" / "models" / "staging" / "stg_customers.sql", "    first_name,\n", "    frist_name,\n")
        return Workspace(root, fault, "sample project (dbt/), reused", f"{kind} {models}", ready=True)
    from gen_project import Generated, plan

    gen = Generated(root, plan(models)[0])
    fault = Fault(gen.model_file(gen.fault_model()), "p0.amount", "p0.amuont")
    return Workspace(root, fault, f"generated, {models} models, reused", f"{kind} {models}", ready=True)


def prepare(ws: Workspace, engines: tuple[str, ...] = ("subprocess",)) -> None:
    """Load the raw sources, build once cold (must be green) and write one config dir per engine."""
    for engine in engines:
        cfg = ws.root / f"config-{engine}"
        cfg.mkdir(exist_ok=True)
        shutil.copy(ws.root / "config" / "sources.yml", cfg / "sources.yml")
        (cfg / "execution_mode.yml").write_text(f"engine: {engine}\n", encoding="utf-8")
    if ws.ready:
        return
    run([str(BIN / "adp"), "ingest", "--all"], cwd=ws.root)
    rc, _ = dbt(ws, "build")
    assert rc == 0, f"{ws.project} does not build green"
    (ws.root / READY).write_text(ws.marker)


def run(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[int, float, str]:
    """Run a command with its output drained through pipes (as adp reads dbt); return rc, seconds, stdout."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        tail = (proc.stdout[-3000:] + proc.stderr[-3000:]).strip()
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode} in {cwd}:\n{tail}")
    return proc.returncode, elapsed, proc.stdout


def dbt(ws: Workspace, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, float]:
    """`dbt <args>` from the project dir, as a user would type it."""
    rc, elapsed, _ = run([str(BIN / "dbt"), *args], cwd=ws.project, ok=ok)
    return rc, elapsed


@dataclass
class AdpRun:
    rc: int
    seconds: float
    peak_rss_mib: float  # of the adp process itself (getrusage RUSAGE_SELF), not dbt's
    outcome: dict[str, Any]


def adp_run(ws: Workspace, *args: str, engine: str = "subprocess", ok: tuple[int, ...] = (0,)) -> AdpRun:
    """`adp run --json <args>` from the workspace root, through bench/rss_wrapper.py."""
    with tempfile.NamedTemporaryFile(suffix=".rss", delete=False) as f:
        rss_file = Path(f.name)
    cmd = [sys.executable, str(BENCH / "rss_wrapper.py"), str(rss_file), "run", "--json",
           "--config-dir", f"config-{engine}", *args]
    try:
        rc, elapsed, out = run(cmd, cwd=ws.root, ok=ok)
        rss = int(rss_file.read_text()) / 1024
    finally:
        rss_file.unlink(missing_ok=True)
    outcome = json.loads(out)
    return AdpRun(rc, elapsed, rss, outcome)


@dataclass
class Row:
    name: str
    values: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, unit: str = "s") -> str:
        return f"{self.median:.2f} {unit} ({min(self.values):.2f}-{max(self.values):.2f})"


def print_table(title: str, rows: list[Row], baseline: Row | None, unit: str = "s") -> None:
    """One comparison: median (min-max) per row and the ratio of medians to `baseline`."""
    print(f"\n{title}")
    width = max(len(r.name) for r in rows)
    for r in rows:
        ratio = f"  {r.median / baseline.median:6.3f}x" if baseline and baseline.median else ""
        print(f"  {r.name:<{width}}  {r.spread(unit):>26}{ratio}  n={len(r.values)}" + (f"  {r.note}" if r.note else ""))
    sys.stdout.flush()


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"

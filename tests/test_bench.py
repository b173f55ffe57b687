"""The benchmark commands in bench/ keep working: the generator's shape, and each command on a tiny
project runs to the end and prints its figures. No timing is asserted (the machine is shared)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from gen_project import generate  # noqa: E402

RATIO = re.compile(r"\d+\.\d\d s \(\d+\.\d\d-\d+\.\d\d\)\s+\d+\.\d{3}x  n=1")


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generator_is_deterministic_and_layered(tmp_path):
    a = generate(tmp_path / "a", 120)
    b = generate(tmp_path / "b", 120)
    assert files(a.root) == files(b.root)
    layers = {layer: [m for m in a.models.values() if m.layer == layer] for layer in ("staging", "intermediate", "marts")}
    assert len(a.models) == 120 and all(layers.values())
    assert all(m.materialized == "view" for m in layers["staging"])
    tables = sum(m.materialized == "table" for m in a.models.values())
    assert tables > len(a.models) / 2, "most models are tables"
    for m in a.models.values():  # a view reads only seeds, sources, tables or staging views (<= 2 deep)
        if m.materialized == "view" and m.layer != "staging":
            assert all(a.models[p].layer == "staging" or a.models[p].materialized == "table" for p in m.parents)
    fan_out = max(sum(name in m.parents for m in a.models.values()) for name in a.models)
    assert fan_out >= 4 and any(len(m.parents) >= 3 for m in a.models.values())
    assert sum(bool(m.tests) for m in a.models.values()) > len(a.models) / 2, "generic tests on most models"
    fault = a.fault_model()
    assert a.models[fault].layer == "intermediate" and a.descendants(fault)
    assert "p0.amount" in a.model_file(fault).read_text()
    assert list((a.project_dir / "seeds").glob("*.csv")) and (a.root / "config" / "sources.yml").is_file()


def bench(script: str, *args: str, tmp_path: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--root", str(tmp_path / "ws")],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.dbt
def test_bench_overhead_prints_p2_log_formats_and_p5(tmp_path):
    out = bench("bench_overhead.py", "--models", "12", "--repeat", "1", tmp_path=tmp_path)
    assert "P2  adp run on a green project" in out and "log format" in out and "P5  peak RSS" in out
    assert re.search(r"adp run \(subprocess engine\)\s+" + RATIO.pattern, out), out
    assert re.search(r"dbt build --log-format-file json\s+" + RATIO.pattern, out), out
    assert re.search(r"adp peak RSS \(subprocess engine\)\s+\d+\.\d\d MiB", out), out


@pytest.mark.dbt
def test_bench_heal_prints_p1_strategies_and_p3(tmp_path):
    out = bench("bench_heal.py", "--models", "12", "--repeat", "1", tmp_path=tmp_path)
    for row in ("cycle: full rebuild after the fix", "cycle: --select path:<file>+", "cycle: dbt retry",
                "cycle: dbtRunner in-process", "adp run --mode autonomous (subprocess)",
                "adp run --mode autonomous (in_process)"):
        assert re.search(re.escape(row) + r".*?" + RATIO.pattern, out), f"{row} missing:\n{out}"
    assert "P3  diagnosis" in out and "categories: sql.column_not_found" in out


@pytest.mark.dbt
def test_bench_diagnose_prints_p3(tmp_path):
    out = bench("bench_diagnose.py", "--models", "12", "--repeat", "1", tmp_path=tmp_path)
    assert re.search(r"P3 = diagnose / build = \d+\.\d%", out), out

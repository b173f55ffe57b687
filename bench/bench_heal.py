"""P1 and P3: a heal cycle for a one-model fault / one warm full `dbt build`; diagnosis / warm build.

Each repetition, on the same green project: a warm full `dbt build` (the baseline); then the fault is
injected (a misspelled column in one model) and healed by each strategy in turn:
  - dbt directly: the failing build, the file fixed, then a full rebuild / `--select path:<file>+` /
    `dbt retry` (the failing run's run_results.json put back first);
  - dbtRunner in one fresh process (failing build + `--select`), via adp's in-process engine;
  - `adp run --mode autonomous` with each engine (diagnoses, fixes, verifies by itself).
P3 times `adp.diagnose` on the failing run in a fresh process (import and manifest load included).

    .venv/bin/python bench/bench_heal.py --models 1000 --repeat 3
    .venv/bin/python bench/bench_heal.py --project sample --repeat 5
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from common import BENCH, Row, Workspace, adp_run, dbt, machine, prepare, print_table, run, workspace, workspace_parser

from adp.engine.subprocess import SubprocessEngine
from adp.artifacts import read_result
from adp.project import DbtProject
from adp.runlog import save_result

ENGINES = ("subprocess", "in_process")


def failing_build(ws: Workspace, log_dir: Path, run_id: str) -> float:
    """The failing build as adp's subprocess engine runs it; its RunResult is saved for P3."""
    project = DbtProject.open(ws.project)
    er = SubprocessEngine().invoke(project, ["build"])
    assert er.exit_code == 1, f"the fault did not fail the build (rc {er.exit_code})"
    save_result(log_dir, run_id, read_result(project, er))
    return er.elapsed


def adp_heal(ws: Workspace, engine: str) -> float:
    ws.fault.inject()
    r = adp_run(ws, "--mode", "autonomous", engine=engine, ok=(0, 1, 3))
    if r.outcome["status"] != "healed" or ws.fault.new in ws.fault.file.read_text(encoding="utf-8"):
        ws.fault.repair()
        raise RuntimeError(f"adp ({engine}) did not heal the fault: {json.dumps(r.outcome)[:3000]}")
    return r.seconds


def main(argv: list[str] | None = None) -> None:
    parser = workspace_parser(__doc__.split("\n")[0])
    parser.add_argument("--no-adp", action="store_true", help="only the dbt strategies (no `adp run` rows)")
    parser.add_argument("--no-dbtrunner", action="store_true", help="leave out the direct dbtRunner cycle row")
    args = parser.parse_args(argv)
    ws = workspace(args.project, args.models, args.root)
    print(f"$ {shlex.join(['python', *sys.argv])}\n{ws.label} at {ws.root}; {machine()}")
    print(f"fault: {ws.fault.old.strip()!r} -> {ws.fault.new.strip()!r} in {ws.fault.file.relative_to(ws.project)}")
    prepare(ws, ENGINES)
    dbt(ws, "build")
    log_dir = Path(tempfile.mkdtemp(prefix="adp-bench-log-"))
    target = ws.project / "target"

    full, fail, select, retry = Row("warm full dbt build"), Row("failing build"), Row("--select path:<file>+"), Row("dbt retry")
    c_full, c_select, c_retry = Row("cycle: full rebuild after the fix"), Row("cycle: --select path:<file>+"), Row("cycle: dbt retry")
    c_inproc = Row("cycle: dbtRunner in-process (fail + --select)")
    c_adp = {e: Row(f"adp run --mode autonomous ({e})") for e in ENGINES}
    diag, diag_import = Row("diagnose (manifest load included)"), Row("import adp.diagnose")

    for rep in range(args.repeat):
        full.values.append(dbt(ws, "build")[1])
        ws.fault.inject()
        fail.values.append(failing_build(ws, log_dir, f"bench{rep}"))
        shutil.copy(target / "run_results.json", log_dir / "failing_run_results.json")
        _, _, out = run([sys.executable, str(BENCH / "diagnose_timer.py"), str(ws.project), str(log_dir), f"bench{rep}"], ws.root)
        timing = json.loads(out)
        diag.values.append(timing["diagnose_s"])
        diag_import.values.append(timing["import_s"])
        diag.note = "categories: " + ",".join(timing["categories"])
        ws.fault.repair()
        select.values.append(dbt(ws, "build", "--select", ws.selector)[1])
        shutil.copy(log_dir / "failing_run_results.json", target / "run_results.json")
        retry.values.append(dbt(ws, "retry")[1])
        c_full.values.append(fail.values[-1] + full.values[-1])
        c_select.values.append(fail.values[-1] + select.values[-1])
        c_retry.values.append(fail.values[-1] + retry.values[-1])
        if not args.no_dbtrunner:
            c_inproc.values.append(dbtrunner_cycle(ws))
        if not args.no_adp:
            for engine in ENGINES if rep % 2 == 0 else reversed(ENGINES):
                c_adp[engine].values.append(adp_heal(ws, engine))
        print(f"\n== after repetition {rep + 1}/{args.repeat}")
        print_table("dbt invocations", [full, fail, select, retry], full)
        cycles = [r for r in (c_full, c_select, c_retry, c_inproc, *c_adp.values()) if r.values]
        print_table("P1  heal cycle for a one-model fault / one warm full dbt build", [full, *cycles], full)
        print_table("P3  diagnosis in a fresh process / warm full dbt build", [full, diag_import, diag], full)


def dbtrunner_cycle(ws: Workspace) -> float:
    """Failing build + fix + `--select` with dbtRunner in one fresh process; its wall seconds."""
    ws.fault.inject()
    try:
        _, seconds, out = run([sys.executable, str(BENCH / "inproc_cycle.py"), str(ws.project), str(ws.fault.file),
                               ws.fault.new, ws.fault.old, ws.selector], ws.root)
    finally:
        if ws.fault.new in ws.fault.file.read_text(encoding="utf-8"):
            ws.fault.repair()
    steps = json.loads(out.splitlines()[-1])
    assert (steps["fail_rc"], steps["after_rc"]) == (1, 0), steps
    return seconds


if __name__ == "__main__":
    main()

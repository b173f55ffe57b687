"""The heal rate of `adp run --mode autonomous` on fault cases, judged the way tests/test_heal_corpus.py judges.

    .venv/bin/python tests/faults/heal_rate.py [-j 1] [ID ...]     # default: every ledger_* and gen_* case

Each case runs on a fresh, already-built copy of its project with the fault applied. A `healed` case counts
when adp exits 0 with status healed and the files equal the original or the case's expected fix; a heal
that leaves other files is a wrong fix. An `escalate` case counts when adp stops for a person (exit 3) with
no file changed and its first diagnosis names the case's file.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FAULTS = Path(__file__).resolve().parent
sys.path[:0] = [str(FAULTS), str(FAULTS.parent)]
from conftest import copy_project, dbt_build  # noqa: E402
from corpus import apply_fault, cases  # noqa: E402
from test_heal_corpus import tree, with_expected_fix  # noqa: E402

ADP = Path(sys.executable).parent / "adp"


def run_case(case, warm: Path, tmp: Path) -> dict:
    project = tmp / case.id / case.project
    shutil.copytree(warm, project, ignore=shutil.ignore_patterns("*.adp.lock"))
    original = tree(project)
    apply_fault(case, project)
    faulted = tree(project)
    acceptable = (original, with_expected_fix(case, project, faulted)) if case.outcome == "healed" else (faulted,)
    started = time.monotonic()
    proc = subprocess.run([str(ADP), "run", "--project-dir", str(project), "--profiles-dir", str(project), "--mode",
                           "autonomous", "--json", *case.spec.get("adp_args", [])], cwd=project.parent,
                          env={**os.environ, "DO_NOT_TRACK": "1"}, capture_output=True, text=True, timeout=900)
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        out = {"status": f"crash (exit {proc.returncode})", "diagnoses": [], "fixes": []}
    first = (out.get("diagnoses") or [{}])[0]
    return {"case": case, "rc": proc.returncode, "status": out.get("status"), "category": first.get("category"),
            "file": first.get("file"), "applied": any(f.get("applied") for f in out.get("fixes") or []),
            "files_ok": tree(project) in acceptable, "changed": tree(project) != faulted,
            "seconds": time.monotonic() - started}


def verdict(r: dict) -> str:
    case, want_file = r["case"], r["case"].expected[0].get("file")
    if case.outcome == "healed":
        if r["rc"] == 0 and r["status"] == "healed" and r["files_ok"]:
            return "healed"
        if r["changed"] and not r["files_ok"]:
            return "WRONG FIX"
        return "not healed"
    if r["rc"] == 3 and r["status"] == "needs_review" and not r["changed"]:
        return "escalated, right file" if r["file"] == want_file else "escalated, WRONG FILE"
    return "WRONG FIX" if r["changed"] else "not escalated"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    args = ap.parse_args()
    todo = [c for c in cases() if c.id in args.ids or (not args.ids and c.id.startswith(("ledger_", "gen_")))]
    todo = [c for c in todo if "setup" not in c.spec]
    with tempfile.TemporaryDirectory(prefix="heal-rate-") as tmp:
        warm: dict[str, Path] = {}
        for name in sorted({c.project for c in todo}):
            warm[name] = Path(tmp) / "warm" / name
            copy_project(name, warm[name])
            assert dbt_build(warm[name]).returncode == 0, f"base project {name} does not build"
        results = []
        with ThreadPoolExecutor(args.jobs) as pool:
            for r in pool.map(lambda c: run_case(c, warm[c.project], Path(tmp)), todo):
                v = verdict(r)
                results.append((r, v))
                e = r["case"].expected[0]
                print(f"{r['case'].id:36} want {r['case'].outcome:8} {e['category']:22} -> {v:22} "
                      f"[{r['status']}, {r['category']}, {r['file']}] {r['seconds']:.0f}s", flush=True)
    heal = [(r, v) for r, v in results if r["case"].outcome == "healed"]
    esc = [(r, v) for r, v in results if r["case"].outcome == "escalate"]
    print(f"healed {sum(v == 'healed' for _, v in heal)} of {len(heal)} heal-expected, "
          f"wrong fixes {sum(v == 'WRONG FIX' for _, v in results)}, "
          f"escalations naming the right file {sum(v == 'escalated, right file' for _, v in esc)} of {len(esc)}")


if __name__ == "__main__":
    main()

"""Issue 18: `adp check` (the pre-flight binder pass) against one warm `dbt build`, and a one-model fault healed
with the check on and off, interleaved in one run.

Each repetition, on the same green project: a warm full `dbt build` (the baseline; adp's good-run state is
saved from it, as a green `adp run` saves it); `adp check` with nothing changed; `adp check` after a correct
edit of one model (a comment appended); `adp check` with a misspelled column in that model (it must find it);
then that fault healed by `adp run --mode autonomous` with the check on (the state present: the fix is made
before the one build) and off (no state: the failing build first, then the fix and the re-run).

    .venv/bin/python bench/bench_check.py --models 1000 --repeat 2
    .venv/bin/python bench/bench_check.py --project sample --repeat 5
"""
from __future__ import annotations

import json
import shutil
import sys

from common import BIN, Row, dbt, machine, prepare, print_table, run, workspace, workspace_parser

from adp.check.state import save, state_dir
from adp.project import DbtProject


def adp(ws, *args: str, ok=(0,)) -> tuple[float, dict]:
    _, seconds, out = run([str(BIN / "adp"), *args, "--json", "--config-dir", "config-subprocess"], cwd=ws.root, ok=ok)
    return seconds, json.loads(out)


def main(argv: list[str] | None = None) -> None:
    args = workspace_parser(__doc__.splitlines()[0]).parse_args(argv)
    ws = workspace(args.project, args.models, args.root)
    print(f"$ python {' '.join(sys.argv)}\n{ws.label} at {ws.root}; {machine()}")
    prepare(ws)
    project, logs = DbtProject.open(ws.project), ws.root / "logs"
    rows = {name: Row(name) for name in ("warm dbt build", "adp check, nothing changed", "adp check, one model edited",
                                         "adp check, one model broken", "heal, check on", "heal, check off")}
    model = ws.fault.file
    for rep in range(args.repeat):
        rows["warm dbt build"].values.append(dbt(ws, "build")[1])
        save(project, logs)
        seconds, out = adp(ws, "check")
        assert out["status"] == "unchanged", out["status"]
        rows["adp check, nothing changed"].values.append(seconds)
        original = model.read_text(encoding="utf-8")
        model.write_text(original + f"\n-- reviewed {rep}\n", encoding="utf-8")
        seconds, out = adp(ws, "check")
        assert out["status"] == "clean", out
        rows["adp check, one model edited"].values.append(seconds)
        rows["adp check, one model edited"].note = f"{len(out['checked'])} nodes bound"
        model.write_text(original, encoding="utf-8")
        ws.fault.inject()
        seconds, out = adp(ws, "check", ok=(1,))
        assert out["diagnoses"] and out["proposals"], out
        rows["adp check, one model broken"].values.append(seconds)
        for name, keep_state in (("heal, check on", True), ("heal, check off", False)):
            if not keep_state:
                shutil.rmtree(state_dir(logs))
                ws.fault.inject()
            seconds, out = adp(ws, "run", "--mode", "autonomous")
            assert out["status"] == "healed", out["status"]
            rows[name].values.append(seconds)
            rows[name].note = f"{out['attempts']} attempt(s)"
        print(f"  rep {rep}: " + ", ".join(f"{r.name} {r.values[-1]:.2f}s" for r in rows.values()), flush=True)
    print_table("seconds (median, min-max) and ratio to the warm build", list(rows.values()), rows["warm dbt build"])
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()

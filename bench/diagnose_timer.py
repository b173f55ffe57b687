"""P3 in a fresh process: import adp.diagnose, then diagnose a saved failing run (manifest load included),
then propose fixes for each diagnosis with the warehouse binder's calls timed (issue 17's judge).

    python bench/diagnose_timer.py <project_dir> <log_dir> <run_id>

Prints one JSON line: import seconds, diagnose seconds (first call, so manifest.json is read), categories,
propose seconds, the binder's calls (queries bound, seconds each call) and the proposals' rules.
"""
import json
import sys
import time
from pathlib import Path

from adp.project import DbtProject
from adp.runlog import load_result

if __name__ == "__main__":
    project_dir, log_dir, run_id = sys.argv[1:4]
    result = load_result(Path(log_dir), run_id)
    project = DbtProject.open(project_dir)
    t0 = time.perf_counter()
    from adp.diagnose import diagnose

    t1 = time.perf_counter()
    found = diagnose(result, project)
    t2 = time.perf_counter()
    from adp.fixes import propose
    from adp.fixes.context import FixContext

    calls: list[tuple[int, float]] = []
    bind = FixContext.bind

    def timed_bind(self, queries):
        start = time.perf_counter()
        try:
            return bind(self, queries)
        finally:
            calls.append((len(queries), time.perf_counter() - start))

    FixContext.bind = timed_bind
    proposals = [p for d in found for p in propose(d, project, result)]
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "diagnose_s": t2 - t1, "categories": [d.category for d in found],
                      "propose_s": t3 - t2, "bind_calls": calls, "proposals": [p.rule for p in proposals]}))

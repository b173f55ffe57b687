"""One heal cycle with dbtRunner in a fresh process: failing build, fix the file, `build --select <sel>`.

    python bench/inproc_cycle.py <project_dir> <file> <old> <new> <selector>

Prints one JSON line with the seconds of each step (the process's wall time is measured by the caller).
Uses adp's InProcessEngine, so the DuckDB handle is released after each call as adp does.
"""
import json
import sys
import time
from pathlib import Path

from adp.engine.in_process import InProcessEngine
from adp.project import DbtProject

if __name__ == "__main__":
    project_dir, file, old, new, selector = sys.argv[1:6]
    project, path, engine = DbtProject.open(project_dir), Path(file), InProcessEngine()
    started = time.perf_counter()
    failing = engine.invoke(project, ["build"])
    failed_at = time.perf_counter()
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    after = engine.invoke(project, ["build", "--select", selector])
    done = time.perf_counter()
    print(json.dumps({"fail_rc": failing.exit_code, "after_rc": after.exit_code,
                      "fail_s": failed_at - started, "after_s": done - failed_at}))

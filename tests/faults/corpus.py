"""The fault corpus: apply a fault to a project copy, run the real dbt on it, record or restore artifacts.

Each case is tests/faults/<id>/ with `fault.patch` (applied with `git apply` inside a copy of
tests/projects/<project>), `expected.json` (the hand-written expected diagnoses and healing outcome)
and `recorded/` (the RunResult and the target/ files diagnosis reads, from a real dbt run).

Re-record after changing a project or a patch (needs dbt; ~6 s per case):
    .venv/bin/python tests/faults/corpus.py record [ID ...]
"""
from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

FAULTS = Path(__file__).resolve().parent
REPO = FAULTS.parents[1]
PROJECTS = REPO / "tests" / "projects"
MACRO_KEYS = ("name", "unique_id", "package_name", "original_file_path", "resource_type", "path")


@dataclass(frozen=True)
class Case:
    id: str
    project: str
    expected: list[dict[str, Any]]
    outcome: str
    spec: dict[str, Any]

    @property
    def dir(self) -> Path:
        return FAULTS / self.id

    @property
    def recorded(self) -> Path:
        return self.dir / "recorded"


def cases() -> list[Case]:
    out = []
    for path in sorted(FAULTS.glob("*/expected.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        out.append(Case(path.parent.name, spec["project"], spec["expected"], spec["outcome"], spec))
    return out


def apply_fault(case: Case, project_dir: Path) -> None:
    """Apply fault.patch inside `project_dir` (a copy of the case's project); an empty patch changes nothing."""
    if not (case.dir / "fault.patch").read_text(encoding="utf-8").strip():
        return
    subprocess.run(["git", "apply", "--unsafe-paths", str(case.dir / "fault.patch")], cwd=project_dir, check=True,
                   capture_output=True, text=True)


@contextlib.contextmanager
def fault_setup(case: Case, project_dir: Path) -> Iterator[None]:
    """Environment a case needs while dbt runs (e.g. another process holding the DuckDB file)."""
    if case.spec.get("setup") == "hold_lock":
        import duckdb

        db = next(project_dir.glob("*.duckdb"))
        con = duckdb.connect(str(db))
        try:
            yield
        finally:
            con.close()
    else:
        yield


def run_fault(case: Case, project_dir: Path):
    """Apply the fault to an already-built project copy and run `dbt build` the way adp does."""
    from adp.artifacts import read_result
    from adp.engine.subprocess import SubprocessEngine
    from adp.project import DbtProject

    apply_fault(case, project_dir)
    project = DbtProject.open(project_dir, project_dir)
    with fault_setup(case, project_dir):
        er = SubprocessEngine().invoke(project, ["build", *case.spec.get("args", [])])
    return read_result(project, er)


def save_recording(case: Case, project_dir: Path, result) -> None:
    """Keep the RunResult and manifest.json (slimmed, gzipped; it holds each node's compiled code)."""
    rec = case.recorded
    shutil.rmtree(rec, ignore_errors=True)
    (rec / "target").mkdir(parents=True)
    data = {**result.to_dict(), "log_lines": result.log_lines}
    (rec / "result.json").write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    target = project_dir / "target"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    manifest["macros"] = {k: {f: m.get(f) for f in MACRO_KEYS} for k, m in manifest.get("macros", {}).items()}
    for key in ("docs", "disabled", "semantic_models", "saved_queries", "metrics", "exposures", "groups", "selectors"):
        manifest.pop(key, None)
    with gzip.open(rec / "target" / "manifest.json.gz", "wt", encoding="utf-8") as fh:
        json.dump(manifest, fh)


def install_local_packages(project: str, dest: Path) -> None:
    """Copy the `local:` packages of the project's packages.yml into dest/dbt_packages/, as `dbt deps` leaves them."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import local_packages

    for rel in local_packages(PROJECTS / project):
        src = (PROJECTS / project / rel).resolve()
        shutil.copytree(src, dest / "dbt_packages" / src.name)


def restore(case: Case, dest: Path):
    """A copy of the faulty project with the recorded target/ files, and the recorded RunResult."""
    from adp.models import NodeResult, RunResult

    shutil.copytree(PROJECTS / case.project, dest)
    install_local_packages(case.project, dest)
    apply_fault(case, dest)
    rec = case.recorded
    (dest / "target").mkdir(exist_ok=True)
    with gzip.open(rec / "target" / "manifest.json.gz", "rt", encoding="utf-8") as fh:
        (dest / "target" / "manifest.json").write_text(fh.read(), encoding="utf-8")
    data = json.loads((rec / "result.json").read_text(encoding="utf-8"))
    data["nodes"] = [NodeResult(**n) for n in data.get("nodes", [])]
    return RunResult(**data)


def _record(ids: set[str]) -> None:
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    from conftest import copy_project, dbt_build

    todo = [c for c in cases() if not ids or c.id in ids]
    with tempfile.TemporaryDirectory() as tmp:
        warm: dict[str, Path] = {}
        for case in todo:
            if case.project not in warm:
                warm[case.project] = Path(tmp) / "warm" / case.project
                copy_project(case.project, warm[case.project])
                assert dbt_build(warm[case.project]).returncode == 0, case.project
            work = Path(tmp) / case.id / case.project
            shutil.copytree(warm[case.project], work)
            result = run_fault(case, work)
            save_recording(case, work, result)
            print(f"{case.id}: exit {result.exit_code}, failed {[n.unique_id for n in result.failed_nodes]}")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "record":
        sys.exit(__doc__)
    _record(set(sys.argv[2:]))

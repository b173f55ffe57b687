"""Shared fixtures: real dbt projects built once per worker and copied warm into each test."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECTS = REPO / "tests" / "projects"
os.environ["DO_NOT_TRACK"] = "1"

TIERS_REQUIRED_IN_CI = {"browser", "claude_e2e", "spark"}


@dataclass
class AdpResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_adp(*args: str, cwd: Path | str, env: dict | None = None, timeout: float = 300, input: str | None = None) -> AdpResult:
    """Run the real `adp` CLI in a subprocess (the interpreter of this venv)."""
    full_env = {**os.environ, "DO_NOT_TRACK": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "adp", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
    return AdpResult(proc.returncode, proc.stdout, proc.stderr)


def dbt_bin() -> str:
    return str(Path(sys.executable).parent / "dbt")


def dbt_build(project: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [dbt_bin(), "build", "--project-dir", str(project), "--profiles-dir", str(project), *extra],
        cwd=project,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def local_packages(project: Path) -> list[str]:
    """The `local:` paths of a project's packages.yml (relative to the project, e.g. `../ledger_utils`)."""
    import yaml

    spec = project / "packages.yml"
    data = yaml.safe_load(spec.read_text(encoding="utf-8")) if spec.is_file() else None
    return [p["local"] for p in (data or {}).get("packages") or [] if isinstance(p, dict) and "local" in p]


def copy_project(name: str, dest: Path) -> None:
    """Copy tests/projects/<name> to `dest`, with the local packages it declares copied beside it and installed."""
    shutil.copytree(PROJECTS / name, dest)
    for rel in local_packages(dest):
        shutil.copytree((PROJECTS / name / rel).resolve(), (dest / rel).resolve(), dirs_exist_ok=True)
    if (dest / "packages.yml").is_file():
        subprocess.run([dbt_bin(), "deps", "--project-dir", str(dest), "--profiles-dir", str(dest)], cwd=dest,
                       env={**os.environ, "DO_NOT_TRACK": "1"}, capture_output=True, text=True, timeout=600, check=True)


@pytest.fixture(scope="session")
def _warm_cache(tmp_path_factory):
    """name -> a copy of tests/projects/<name> with `dbt build` already run (target/ and the DuckDB file)."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            dest = tmp_path_factory.mktemp(f"warm-{name}") / name
            copy_project(name, dest)
            proc = dbt_build(dest)
            assert proc.returncode == 0, f"base project {name} does not build:\n{proc.stdout[-3000:]}"
            built[name] = dest
        return built[name]

    return get


@pytest.fixture
def warm_project(_warm_cache, tmp_path):
    """Factory: a fresh, already-built copy of tests/projects/<name> in this test's tmp dir."""

    def make(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(_warm_cache(name), dest, ignore=shutil.ignore_patterns("*.adp.lock"))
        return dest

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("CI", "").lower() != "true":
        return
    tiers = TIERS_REQUIRED_IN_CI & {m.name for m in item.iter_markers()}
    if tiers:
        report.outcome = "failed"
        report.longrepr = f"CI=true: the {', '.join(sorted(tiers))} tier was skipped but must run in CI ({report.longrepr})"

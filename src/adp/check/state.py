"""The last good run's state: its manifest (what dbt's `state:modified` compares with) and the hashes of the
project's files, env and vars, so that "nothing changed" is decided without starting dbt.

`<log dir>/state/manifest.json` is a copy of target/manifest.json after a good run; `files.json` holds
the file hashes. A change dbt cannot see node by node (dbt_project.yml, packages, profiles, vars, `DBT_*`
env values, a seed over 1 MiB, which dbt checksums by path only) means "check everything".
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from adp.editable import Layout
from adp.project import DbtProject

STATE_DIR = "state"
BIG_SEED = 1 << 20  # dbt checksums seeds above 1 MiB by path, not by content
_WHOLE = frozenset({"dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml", "selectors.yml"})
_PROFILES = "<profiles>"
_SETTINGS = "<vars and env>"


@dataclass(frozen=True)
class Changes:
    """What changed since the last good run: `none`, `some` (dbt's state:modified+ selects them) or `all`."""

    kind: str
    files: list[str] = field(default_factory=list)
    reason: str = ""


def state_dir(log_dir: Path) -> Path:
    return log_dir / STATE_DIR


def fingerprint(project: DbtProject, vars_: str | None = None) -> dict[str, str]:
    """sha256 of every project file dbt reads (generated folders left out), the profile, vars and `DBT_*` env."""
    layout = Layout.of(project)
    root = project.project_dir
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")
                       and not Layout.under(f"{rel_dir}/{d}".lstrip("./"), layout.generated)]
        for name in filenames:
            if name.startswith(".") or name.endswith((".duckdb", ".duckdb.wal", ".lock")):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            size = path.stat().st_size
            out[rel] = f"big:{size}:{_sha(path)}" if size > BIG_SEED and Layout.under(rel, layout.seeds) else _sha(path)
    profiles = project.profiles_path()
    out[_PROFILES] = _sha(profiles) if profiles.is_file() else ""
    settings = {"vars": vars_, "target": project.target, **{k: v for k, v in os.environ.items() if k.startswith("DBT_")}}
    out[_SETTINGS] = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return out


def save(project: DbtProject, log_dir: Path, vars_: str | None = None) -> None:
    """After a good run: keep its manifest and the project's fingerprint (written atomically, manifest last)."""
    manifest = project.target_dir / "manifest.json"
    if not manifest.is_file():
        return
    d = state_dir(log_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "files.json.tmp"
    tmp.write_text(json.dumps(fingerprint(project, vars_), sort_keys=True), encoding="utf-8")
    os.replace(tmp, d / "files.json")
    shutil.copyfile(manifest, d / "manifest.json.tmp")
    os.replace(d / "manifest.json.tmp", d / "manifest.json")


def changes(project: DbtProject, log_dir: Path, vars_: str | None = None) -> Changes:
    """Compare the project now with the last good run's fingerprint."""
    d = state_dir(log_dir)
    try:
        before = json.loads((d / "files.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Changes("all", reason="no good run on record yet")
    if not (d / "manifest.json").is_file():
        return Changes("all", reason="the last good run's manifest is missing")
    now = fingerprint(project, vars_)
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if not changed:
        return Changes("none", reason="nothing changed since the last good run")
    layout = Layout.of(project)
    tracked = (*layout.sources, *layout.tests, *layout.seeds)
    whole = [k for k in changed if k in _WHOLE or k in (_PROFILES, _SETTINGS) or now.get(k, "").startswith("big:")
             or before.get(k, "").startswith("big:")]
    if whole:
        return Changes("all", changed, f"{', '.join(whole)} changed: everything is checked")
    untracked = [k for k in changed if not Layout.under(k, tracked) and not k.endswith((".yml", ".yaml"))]
    if untracked:  # e.g. a file a source reads (`external_location`): dbt's state comparison cannot see it
        return Changes("all", changed, f"{', '.join(untracked[:3])} changed, which dbt does not track: everything is checked")
    return Changes("some", changed, f"{len(changed)} file(s) changed since the last good run")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

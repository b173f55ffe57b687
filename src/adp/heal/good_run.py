"""A green run becomes the baseline: validated against the last good one, its parse kept for the guards."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from adp.artifacts import Manifest
from adp.models import RunResult
from adp.session import Outcome, Session
from adp.workspace import Workspace

STATE_DIR = "state"  # <log dir>/state/manifest.json: the last good run's parse, a baseline for the guards


def last_good_manifest(ws: Workspace) -> Manifest:
    """The parse of the last good run (empty when there was none)."""
    return Manifest(ws.log_dir / STATE_DIR)


def record_good_run(session: Session, result: RunResult, outcome: Outcome) -> None:
    """Validate a green run against the last good one, then make it the new baseline."""
    from adp.validate import check_good_run  # imports duckdb (the history DB): only once a run is green

    ws = session.ws
    _keep_manifest(ws.project.target_dir / "manifest.json", ws.log_dir / STATE_DIR)
    outcome.validation = [f.to_dict() for f in check_good_run(ws, session.run_id, result, session.log)]


def _keep_manifest(source: Path, state_dir: Path) -> None:
    """Copy a good run's manifest.json beside the logs (atomically): the guards' baseline when a project stops parsing."""
    if source.is_file():
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / ".manifest.json.tmp"
        shutil.copyfile(source, tmp)
        os.replace(tmp, state_dir / "manifest.json")

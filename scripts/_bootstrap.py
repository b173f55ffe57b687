"""Make a script importable-safe: re-exec it under the repo's .venv/bin/python when a module is missing.

Usage at the top of a script in scripts/ (before importing the project's package)::

    import _bootstrap
    _bootstrap.ensure("adp")
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
_GUARD = "ADP_BOOTSTRAP_REEXEC"


def ensure(module: str) -> None:
    """Return when `module` imports here; otherwise re-exec this script under the repo's venv (once)."""
    if importlib.util.find_spec(module) is not None:
        return
    if os.environ.get(_GUARD) or not VENV_PYTHON.exists():
        sys.exit(f"error: cannot import `{module}` with {sys.executable}; create the venv first: make venv")
    os.environ[_GUARD] = "1"
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])

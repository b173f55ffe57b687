"""Make a script importable-safe: re-exec it under the repo's .venv/bin/python when a module is missing.

Usage at the top of a script in scripts/ (before importing the project's package)::

    import _bootstrap
    _bootstrap.ensure("adp")
"""
from __future__ import annotations

import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
INSTALL_MANIFEST = REPO / ".claude" / "adp-install.json"  # written by `adp claude install` in a team's repo
_GUARD = "ADP_BOOTSTRAP_REEXEC"


def venv_hint() -> str:
    """How to create the venv here: `make venv` in adp's own repo, else the pip command."""
    makefile = REPO / "Makefile"
    if makefile.is_file() and "\nvenv:" in "\n" + makefile.read_text(encoding="utf-8", errors="replace"):
        return "make venv"
    source = "PATH-TO-ADP-CHECKOUT"
    try:
        source = json.loads(INSTALL_MANIFEST.read_text(encoding="utf-8")).get("adp_source") or source
    except (OSError, ValueError, AttributeError):
        pass
    return f"python3 -m venv .venv && .venv/bin/pip install -e {shlex.quote(source)}"


def ensure(module: str) -> None:
    """Return when `module` imports here; otherwise re-exec this script under the repo's venv (once)."""
    if importlib.util.find_spec(module) is not None:
        return
    if os.environ.get(_GUARD) or not VENV_PYTHON.exists():
        sys.exit(f"error: cannot import `{module}` with {sys.executable}; create the venv first: {venv_hint()}")
    os.environ[_GUARD] = "1"
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])

"""The one registry of source kinds: a kind is one module exporting `KIND`, listed here once.

A kind (`adp.ingest.job.Kind`) turns one configured source into jobs, one per target table; the loader
does the rest (staging, atomic swap, metadata columns, drift, the `_loads` table). Adding a kind (Excel,
a SQL database, ...) is a new module plus one entry in `_BUILTIN`, or `register()` at runtime.

Imports go down only: `source.py` (Source, Target, SourcesConfig, setting checks) < `job.py` < the kind
modules < this registry < `config.py` (reads sources.yml, validates each source through its kind here)
< `load.py`/`run.py`.
"""
from __future__ import annotations

from adp.ingest import api, files
from adp.ingest.job import Kind

_BUILTIN = (files.KIND, api.KIND)
KINDS: dict[str, Kind] = {kind.name: kind for kind in _BUILTIN}


def register(kind: Kind) -> Kind:
    """Add (or replace) a source kind; returns it so a module can write `KIND = register(Kind(...))`."""
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a kind added with `register` (tests use it to clean up)."""
    KINDS.pop(name, None)

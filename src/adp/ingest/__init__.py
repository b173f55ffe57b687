"""Ingestion: files and HTTP APIs into DuckDB, from config/sources.yml (atomic, resumable, drift-aware).

`run_ingest` is `adp ingest`; `ingest_for_run` is the ingest step of `adp run`. Source kinds live in
their own modules and are listed once in `registry.py`.
"""
from adp.ingest.config import load_sources
from adp.ingest.load import LoadSummary
from adp.ingest.run import ingest_for_run, run_ingest
from adp.ingest.source import SourcesConfig

__all__ = ["LoadSummary", "SourcesConfig", "ingest_for_run", "load_sources", "run_ingest"]

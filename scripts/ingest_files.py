#!/usr/bin/env python3
"""Load CSV, Parquet, JSON and NDJSON files listed under `sources.files` in config/sources.yml into DuckDB.

A thin shell over `adp.ingest` (same as `adp ingest`, limited to file sources). Prints a JSON object
with --json: {"status": "ok"|"error", "exit_code": 0|1, "loads": [{source, table, status, rows, ...}]}.
Exit: 0 every load succeeded, 1 a load failed, 2 usage or config error.

Examples:
    python scripts/ingest_files.py --all
    python scripts/ingest_files.py csv --json
"""
import _bootstrap

_bootstrap.ensure("adp")

from _ingest_cli import main  # noqa: E402

if __name__ == "__main__":
    main(kind="files", description=__doc__)

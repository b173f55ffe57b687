#!/usr/bin/env python3
"""Fetch JSON HTTP APIs listed under `sources.apis` in config/sources.yml and load them into DuckDB.

A thin shell over `adp.ingest` (same as `adp ingest`, limited to API sources): paginated, retried
(429/5xx, Retry-After), incremental by cursor, each table replaced/appended/merged atomically.
Prints a JSON object with --json: {"status": "ok"|"error", "exit_code": 0|1, "loads": [...]}.
Exit: 0 every load succeeded, 1 a load failed, 2 usage or config error.

Examples:
    python scripts/extract_api.py --all --json
    python scripts/extract_api.py jsonplaceholder
"""
import _bootstrap

_bootstrap.ensure("adp")

from _ingest_cli import main  # noqa: E402

if __name__ == "__main__":
    main(kind="apis", description=__doc__)

#!/usr/bin/env python3
"""Run the pipeline once (ingest stale sources, `dbt build`, self-heal) and print the run JSON.

Thin shell over `adp run --json`; the retry/heal loop lives in adp, so call this once per request.
Exit codes (passed through from adp): 0 green, 1 still failing, 2 usage/config error,
3 stopped for a person (a proposal awaits approval, or no safe fix exists).

Example: python3 scripts/run_pipeline.py --select stg_orders+ --mode human-in-loop
"""
from __future__ import annotations

import argparse
import os

import _bootstrap

_bootstrap.ensure("adp")  # re-exec under the repo's .venv when adp is not importable


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="run_pipeline.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-s", "--select", action="append", default=[], help="dbt selector (repeatable), e.g. stg_orders+")
    p.add_argument("--exclude", action="append", default=[], help="dbt exclusion (repeatable)")
    p.add_argument("--mode", choices=["autonomous", "human-in-loop"], help="override config/execution_mode.yml")
    p.add_argument("--no-heal", action="store_true", help="only build and report; do not diagnose or fix")
    p.add_argument("--full-refresh", action="store_true", help="pass --full-refresh to dbt (drops incremental history)")
    p.add_argument("--vars", help="dbt --vars (YAML/JSON string)")
    p.add_argument("--project-dir", default=os.environ.get("ADP_PROJECT_DIR"), help="dbt project dir (default: $ADP_PROJECT_DIR, else ./dbt)")
    p.add_argument("--profiles-dir", default=os.environ.get("ADP_PROFILES_DIR"), help="directory of profiles.yml (default: $ADP_PROFILES_DIR, else dbt's lookup)")
    p.add_argument("--target", default=os.environ.get("ADP_TARGET"), help="dbt target (default: $ADP_TARGET, else the profile's)")
    return p.parse_args(argv)


def adp_args(a: argparse.Namespace) -> list[str]:
    args = ["run", "--json"]
    for sel in a.select:
        args += ["--select", sel]
    for exc in a.exclude:
        args += ["--exclude", exc]
    for flag, value in (("--mode", a.mode), ("--vars", a.vars), ("--project-dir", a.project_dir),
                        ("--profiles-dir", a.profiles_dir), ("--target", a.target)):
        if value:
            args += [flag, value]
    if a.no_heal:
        args.append("--no-heal")
    if a.full_refresh:
        args.append("--full-refresh")
    return args


if __name__ == "__main__":
    from adp.cli import main

    main(adp_args(parse_args()), prog_name="adp")

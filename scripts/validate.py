#!/usr/bin/env python3
"""Check the data of the last good build (row counts, nulls, freshness, schema drift) and print JSON.

Thin shell over `adp validate --json`. Exit codes (adp's): 0 no errors, 1 validation errors found,
2 usage/config error.

Example: python3 scripts/validate.py
"""
from __future__ import annotations

import argparse
import os

import _bootstrap

_bootstrap.ensure("adp")  # re-exec under the repo's .venv when adp is not importable


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="validate.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project-dir", default=os.environ.get("ADP_PROJECT_DIR"), help="dbt project dir (default: $ADP_PROJECT_DIR, else ./dbt)")
    p.add_argument("--profiles-dir", default=os.environ.get("ADP_PROFILES_DIR"), help="directory of profiles.yml")
    p.add_argument("--target", default=os.environ.get("ADP_TARGET"), help="dbt target")
    return p.parse_args(argv)


def adp_args(a: argparse.Namespace) -> list[str]:
    args = ["validate", "--json"]
    for flag, value in (("--project-dir", a.project_dir), ("--profiles-dir", a.profiles_dir), ("--target", a.target)):
        if value:
            args += [flag, value]
    return args


if __name__ == "__main__":
    from adp.cli import main

    main(adp_args(parse_args()), prog_name="adp")

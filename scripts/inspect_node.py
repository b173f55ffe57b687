#!/usr/bin/env python3
"""Print what a diagnostician needs about one dbt node as JSON: its file (text + sha256), compiled
SQL, the last run's error message, upstream relations with their actual columns, downstream nodes
and tests. Read-only: never runs dbt, never prints profiles.yml or environment values.

Thin shell over `adp inspect NODE --json`. NODE is a unique_id (model.shop.stg_orders) or a name.
Exit codes: 0 found, 2 unknown node / no manifest (run the pipeline first).

Example: python3 scripts/inspect_node.py stg_orders
"""
from __future__ import annotations

import argparse
import os

import _bootstrap

_bootstrap.ensure("adp")  # re-exec under the repo's .venv when adp is not importable


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="inspect_node.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("node", help="unique_id or name of the node")
    p.add_argument("--run-id", help="take the error message from this run (default: the most recent)")
    p.add_argument("--project-dir", default=os.environ.get("ADP_PROJECT_DIR"), help="dbt project dir (default: $ADP_PROJECT_DIR, else ./dbt)")
    p.add_argument("--profiles-dir", default=os.environ.get("ADP_PROFILES_DIR"), help="directory of profiles.yml")
    p.add_argument("--target", default=os.environ.get("ADP_TARGET"), help="dbt target")
    return p.parse_args(argv)


def adp_args(a: argparse.Namespace) -> list[str]:
    args = ["inspect", a.node, "--json"]
    for flag, value in (("--run-id", a.run_id), ("--project-dir", a.project_dir),
                        ("--profiles-dir", a.profiles_dir), ("--target", a.target)):
        if value:
            args += [flag, value]
    return args


if __name__ == "__main__":
    from adp.cli import main

    main(adp_args(parse_args()), prog_name="adp")

#!/usr/bin/env python3
"""List, apply, reject or roll back fix proposals (list and apply print JSON).

Thin shell over `adp fix ... --json`. `apply` backs the file up, applies the edits, re-runs the node
and everything downstream, validates, and rolls back by itself when that does not verify.
Exit codes (adp's): 0 green after the fix, 1 rolled back / still failing, 2 usage error (unknown id,
stale proposal, path outside the project), 3 needs a person.

Examples:
  python3 scripts/apply_fix.py list
  python3 scripts/apply_fix.py apply 3f2a9c1e
  python3 scripts/apply_fix.py apply --file logs/proposals/agent-1a2b3c4d.json
  python3 scripts/apply_fix.py reject 3f2a9c1e
  python3 scripts/apply_fix.py rollback 20250101T120000-abc123
"""
from __future__ import annotations

import argparse
import os

import _bootstrap

_bootstrap.ensure("adp")  # re-exec under the repo's .venv when adp is not importable


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="apply_fix.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="proposals awaiting approval")
    apply = sub.add_parser("apply", help="apply one proposal (by id or --file), verify, keep or roll back")
    target = apply.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", help="proposal id from `list` or the run JSON's `proposals`")
    target.add_argument("--file", help="a proposal JSON file (docs/schemas/fix-proposal.schema.json)")
    sub.add_parser("reject", help="discard a proposal (kept for the record, never applied)").add_argument("id")
    rollback = sub.add_parser("rollback", help="restore every file a run's fixes changed")
    rollback.add_argument("run_id")
    for sp in (apply, rollback):
        sp.add_argument("--project-dir", default=os.environ.get("ADP_PROJECT_DIR"), help="dbt project dir (default: $ADP_PROJECT_DIR, else ./dbt)")
        sp.add_argument("--profiles-dir", default=os.environ.get("ADP_PROFILES_DIR"), help="directory of profiles.yml")
        sp.add_argument("--target", default=os.environ.get("ADP_TARGET"), help="dbt target")
    return p.parse_args(argv)


def adp_args(a: argparse.Namespace) -> list[str]:
    if a.action == "list":
        return ["fix", "list", "--json"]
    if a.action == "reject":
        return ["fix", "reject", a.id]
    args = ["fix", a.action]
    if a.action == "apply":
        args += ["--file", a.file, "--json"] if a.file else [a.id, "--json"]
    else:
        args.append(a.run_id)
    for flag, value in (("--project-dir", a.project_dir), ("--profiles-dir", a.profiles_dir), ("--target", a.target)):
        if value:
            args += [flag, value]
    return args


if __name__ == "__main__":
    from adp.cli import main

    main(adp_args(parse_args()), prog_name="adp")

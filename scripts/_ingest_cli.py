"""The argument parsing shared by ingest_files.py and extract_api.py (one source kind each)."""
from __future__ import annotations

import argparse
import json
import sys

from _bootstrap import REPO


def main(kind: str, description: str | None) -> None:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"source names under `sources.{kind}` in sources.yml")
    parser.add_argument("--all", action="store_true", help="every enabled source of this kind")
    parser.add_argument("--stale-only", action="store_true", help="skip sources unchanged since their last load")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--project-dir", default=str(REPO / "dbt"), help="dbt project (default: the repo's dbt/)")
    parser.add_argument("--profiles-dir", default=None, help="directory holding profiles.yml")
    parser.add_argument("--target", default=None, help="dbt target")
    parser.add_argument("--config-dir", default=str(REPO / "config"), help="directory holding sources.yml")
    parser.add_argument("--log-dir", default=str(REPO / "logs"), help="adp log directory")
    args = parser.parse_args()

    from adp.errors import AdpError
    from adp.ingest.report import format_load, progress_printer
    from adp.ingest.run import ingest
    from adp.workspace import Workspace

    try:
        ws = Workspace.open(args.project_dir, args.profiles_dir, args.target, args.config_dir, args.log_dir)
        outcome = ingest(ws, args.names, all_sources=args.all, kinds=(kind,), stale_only=args.stale_only,
                         progress=None if args.json else progress_printer())
    except AdpError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    if args.json:
        print(json.dumps(outcome.to_dict(), indent=2, default=str))
    else:
        for load in outcome.loads:
            print(format_load(load))
    sys.exit(outcome.exit_code)

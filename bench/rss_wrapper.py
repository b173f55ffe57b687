"""Run the adp CLI in this process and write its peak RSS (KiB, RUSAGE_SELF: without dbt's children).

    python bench/rss_wrapper.py <rss-file> run --json ...
"""
import resource
import sys
from pathlib import Path

from adp.cli import main

if __name__ == "__main__":
    rss_file = Path(sys.argv[1])
    try:
        main(sys.argv[2:], prog_name="adp")
    finally:
        rss_file.write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))

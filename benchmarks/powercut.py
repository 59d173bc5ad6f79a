"""Power cuts at random moments under the real kiosk code (issue 18).

Runs tests/powercut.py's harness: the forgetting filesystem (tests/fusefs.py, FUSE:
needs /dev/fuse, the fuse3 package and mfusepy from the dev extra), ``facekiosk
install`` into it, then the store's enrollments, password changes and deletions, with a
power cut at a random moment, again and again on what each cut left. Prints the cuts,
the changes the kiosk acknowledged, and what was lost, corrupt, torn or failed to start
(targets: 0).

    .venv/bin/python benchmarks/powercut.py --cuts 200 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args()
    if args.cuts < 1:
        print("powercut: --cuts must be at least 1", file=sys.stderr)
        return 2
    sys.path.insert(0, str(TESTS))
    from fusefs import fuse_available
    from powercut import run_cuts

    why = fuse_available()
    if why:
        print(f"powercut: cannot mount the test filesystem: {why}", file=sys.stderr)
        return 2
    started = time.monotonic()
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        figures = run_cuts(Path(args.keep), args.cuts, args.seed, log)
    else:
        with tempfile.TemporaryDirectory(prefix="powercut-") as work:
            figures = run_cuts(Path(work), args.cuts, args.seed, log)
    result = figures.as_dict() | {"seconds": round(time.monotonic() - started, 1), "seed": args.seed}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    bad = figures.lost or figures.corrupt or figures.torn_files or figures.failed_starts
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

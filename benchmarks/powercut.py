"""Power cuts at random moments under the real kiosk code (issue 18).

Runs tests/powercut.py's harness: the forgetting filesystem (tests/fusefs.py, FUSE:
needs /dev/fuse, the fuse3 package and mfusepy from the dev extra), ``facekiosk
install`` into it, then the store's enrollments, password changes, deletions, failed
face and password attempts (lockout, audit), sync passes draining the outbox to a local
Realtime Database server (tests/rtdb_server.py) and schema migrations of old databases,
with a power cut at a random moment, again and again on what each cut left. Prints the cuts,
the changes the kiosk acknowledged, and what was lost, corrupt, torn or failed to start
(targets: 0).

    .venv/bin/python benchmarks/powercut.py --cuts 200 --json

The run uses a snapshot of the code: it first copies the checkout's code (kiosk/, tests/,
benchmarks/, config.yml, systemd/, database.rules.json: the working tree as it is at the start) into its work
folder and runs there, harness and writer alike, so a commit or an edit in the checkout
during a long run cannot put two versions of the code in one run (a 200-cut run once
stopped at cut 85 with 51 failed starts: the writer had loaded a newer store migration
than the harness knew). ``--in-place`` runs the checkout's code as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
TESTS = CHECKOUT / "tests"
SNAPSHOT_ENV = "FACEKIOSK_POWERCUT_SNAPSHOT"  # set in the copy's run: names the checkout copied
SNAPSHOT_PARTS = ("kiosk", "tests", "benchmarks", "config.yml", "systemd", "setup.py", "database.rules.json")


def snapshot(checkout: Path, into: Path) -> Path:
    """A copy of the code the run needs (no caches, no models: the writer loads none)."""
    into.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "rtdb_contract")
    for part in SNAPSHOT_PARTS:
        source = checkout / part
        if source.is_dir():
            shutil.copytree(source, into / part, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, into / part)
    return into


def git_head(checkout: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(checkout), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument("--in-place", action="store_true",
                        help="run the checkout's code as it is instead of a snapshot taken at the start")
    args = parser.parse_args()
    if args.cuts < 1:
        print("powercut: --cuts must be at least 1", file=sys.stderr)
        return 2
    if not args.in_place and SNAPSHOT_ENV not in os.environ:
        with tempfile.TemporaryDirectory(prefix="powercut-code-") as folder:
            code = snapshot(CHECKOUT, Path(folder) / "code")
            env = {**os.environ, SNAPSHOT_ENV: f"{CHECKOUT} at {git_head(CHECKOUT)}", "PYTHONPATH": str(code)}
            return subprocess.call([sys.executable, str(code / "benchmarks" / "powercut.py"), *sys.argv[1:]], env=env)
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
    result = figures.as_dict() | {"seconds": round(time.monotonic() - started, 1), "seed": args.seed,
                                  "code": os.environ.get(SNAPSHOT_ENV, f"in place: {CHECKOUT}")}
    if SNAPSHOT_ENV in os.environ:
        result["code"] = f"snapshot of {result['code']} taken at the start"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    bad = figures.lost or figures.corrupt or figures.torn_files or figures.failed_starts
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The child of the power-cut harness (tests/powercut.py): the real kiosk code writing to
the forgetting filesystem until the power goes.

Usage: powercut_writer.py MOUNT CONFIG SEED. First ``facekiosk install --root MOUNT/root
--no-start`` (idempotent: a later run after a cut finds its files), printing
``INSTALLED`` when it returned; then the store's write loop of store_crash_writer.py
(enrollments, password changes, deletions, each printed after the store said done).
"""

from __future__ import annotations

import sys
from pathlib import Path

from kiosk.commands.install import CHECKOUT, Plan, install
from kiosk.durable import fsync_dir


def main(mount: str, config: str, seed: int) -> None:
    root = Path(mount) / "root"
    if not root.exists():  # stands for a machine's "/", which exists before any install
        root.mkdir()
        fsync_dir(mount)
    code = install(Plan(root, dry_run=False, out=lambda line: None), CHECKOUT, CHECKOUT / "config.yml", start=False)
    if code != 0:
        raise SystemExit(f"install exited {code}")
    print("INSTALLED", flush=True)
    import store_crash_writer

    store_crash_writer.main(config, seed)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

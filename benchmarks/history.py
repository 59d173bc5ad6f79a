"""What keeping each user record's signed versions costs (record_history, issue 13).

Applies ``--users`` pulled records (3 encrypted 128-value templates each, as sync builds
them after the signature check) to a fresh store, in pages of 500 as the engine does, once
with the version kept (``sync.keep_versions``) and once without, alternating ``--rounds``
times; prints the time per record and the database size of each.

    .venv/bin/python benchmarks/history.py --users 2000 --json
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from kiosk.store import Store, history  # noqa: E402
from kiosk.sync import layout  # noqa: E402
from store_support import MODEL, make_settings, unit_vectors  # noqa: E402


def one_run(users: int, keep: bool) -> tuple[float, int]:
    folder = Path(tempfile.mkdtemp(prefix="facekiosk-history-"))
    settings = make_settings(folder)
    original = history.keep
    if not keep:
        history.keep = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        with Store.open(settings) as store:
            remotes = []
            for i in range(users):
                uid = str(uuid.uuid4())
                templates = {str(uuid.uuid4()): base64.b64encode(store.codec.encode(uid, MODEL, v)).decode()
                             for v in unit_vectors(3, seed=i)}
                value: dict[str, Any] = {
                    "deleted": False, "updatedAt": 1_700_000_000_000 + i, "createdAt": 1_700_000_000_000, "origin": "seed-db",
                    "writer": "seed", "changeId": f"seed-db:{i}", "revision": 1, "email": f"user{i}@example.org",
                    "passwordHash": "$argon2id$v=19$m=65536,t=3,p=4$" + "s" * 22 + "$" + "h" * 43, "model": MODEL,
                    "templates": templates, "consentVersion": "2026-11-1", "consentAt": 1_700_000_000_000,
                    "signedAt": 1_700_000_000_000, "sig": "A" * 86 + "==",
                }
                remotes.append(layout.parse_user(uid, value))
            start = time.perf_counter()
            for page in range(0, users, 500):
                store.apply_remote(remotes[page:page + 500])
            took = time.perf_counter() - start
            path = store.path
        wal = path.with_name(path.name + "-wal")  # closing the last connection checkpoints it
        return took, path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    finally:
        history.keep = original  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs: dict[bool, list[tuple[float, int]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for keep in (False, True):
            runs[keep].append(one_run(args.users, keep))
    report = {
        "users": args.users,
        **{f"apply_us_per_record_{name}": round(statistics.median(t for t, _ in runs[keep]) / args.users * 1e6)
           for name, keep in (("without_history", False), ("with_history", True))},
        **{f"db_mb_{name}": round(runs[keep][-1][1] / 1e6, 1) for name, keep in (("without_history", False), ("with_history", True))},
    }
    report["kept_bytes_per_user"] = round((report["db_mb_with_history"] - report["db_mb_without_history"]) * 1e6 / args.users)
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

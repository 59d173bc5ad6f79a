"""Benchmark of Firebase sync (issue 5) against the local RTDB server (tests/rtdb_server.py).

The real firebase-admin SDK talks HTTP to the in-process server on 127.0.0.1, so network
latency is ~0: add your round-trip time (a few per change) to compare with production.

* ``initial_sync_s``, ``initial_sync_peak_rss_mb``: a fresh kiosk (a child process running
  only the kiosk runtime) loads ``--users`` users (3 encrypted 128-d templates each, distinct
  updatedAt) with one sync pass: initial load in pages by uid, then the catch-up query.
  Peak RSS is the child's VmHWM; ``initial_sync_rss_before_mb`` is its RSS after imports.
* ``propagation_p50_s``, ``propagation_p95_s``: ``--changes`` enrollments on kiosk A, each
  from the moment A's store committed it (the UI then calls ``engine.kick()``) until kiosk B's
  own Store connection returns the new user's templates for verification. Both engines run
  their threads with the production sync settings, on the database of ``--users`` users.
* ``outbox_drain_per_s``: ``--drain`` enrollments made offline on a third kiosk, then pushed
  by one drain (email claim + user write each, doorbell rings), on a separate empty database.

* ``verify_per_record_us``: what trusting one pulled record costs (certificate cached):
  the signature check over its canonical encoding (kiosk/fleet/trust.py), in microseconds.

Every record is signed (the seeded ones by a "seed" kiosk), every kiosk has its identity
and root-signed certificate, and pulls check signatures, as in production.

Targets: initial sync of 10,000 users <= 15 s, propagation p95 <= 2 s.

    .venv/bin/python benchmarks/sync.py --json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from kiosk.config import parse_config  # noqa: E402
from kiosk.config.sync import SyncSettings  # noqa: E402
from kiosk.store import Store  # noqa: E402
from kiosk.store.emails import normalize_email  # noqa: E402
from kiosk.store.passwords import Passwords  # noqa: E402
from kiosk.store.templates import TemplateCodec  # noqa: E402
from kiosk.fleet.admin import AdminKeys  # noqa: E402
from kiosk.fleet.certs import issue_certificate, root_public_key  # noqa: E402
from kiosk.fleet.encoding import b64  # noqa: E402
from kiosk.fleet.identity import KioskIdentity, load_identity  # noqa: E402
from kiosk.fleet.records import sign_record  # noqa: E402
from kiosk.fleet.sealing import seal  # noqa: E402
from kiosk.fleet.trust import Trust  # noqa: E402
from kiosk.sync import SyncEngine, layout  # noqa: E402
from kiosk.sync.firebase import EMULATOR_ENV, open_app  # noqa: E402

MODEL = "dlib_resnet_v1/fp32@benchmark000000"
DIM = 128
TEMPLATES = 3
# Cheap argon2 so that enrolling is not what is measured (the hash is made before the commit).
TINY_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
TARGETS = {"initial_sync_s": 15.0, "propagation_p95_s": 2.0}


def settings_for(folder: Path):
    return parse_config({"store": {"path": "facekiosk.db", "key_file": "template-key"}, "passwords": TINY_ARGON2}, base_dir=folder)


def kiosk_folder(root: Path, name: str, key: bytes) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template-key").write_bytes(key)
    (folder / "template-key").chmod(0o600)  # the store refuses a key others can read
    return folder


def sync_settings(name: str, database: str = "test-db", root: str = "", folder: Path | None = None, **overrides) -> SyncSettings:
    identity = str((folder or Path(".")) / "kiosk-identity.json")
    return SyncSettings(enabled=True, database_url=f"https://{database}.firebaseio.com", kiosk_id=name,
                        fleet_root_key=root, identity_file=identity, **overrides)


def engine_for(name: str, folder: Path, root: str, database: str = "test-db") -> SyncEngine:
    settings = settings_for(folder)
    sync = sync_settings(name, database, root, folder)
    return SyncEngine(sync, lambda: Store.open(settings), lambda: open_app(sync, settings.resolve),
                      identity=lambda kiosk_id: load_identity(sync, kiosk_id, settings.resolve, environ={})[0],
                      model_dims={MODEL: DIM})


def enroll(server, admin: AdminKeys, identity: KioskIdentity, database: str = "test-db") -> None:
    """The certificate and sealed key `facekiosk fleet enroll-kiosk` writes, written directly."""
    public = identity.public()
    cert = issue_certificate(admin.root, public, int(time.time() * 1000) - 86_400_000 * 400, 800)
    sealed = {admin.current: b64(seal(public.sealing_key, public.kiosk_id, admin.current, admin.template_key))}
    server.set_data({"cert": cert, "templateKeys": sealed}, f"/kiosks/{public.kiosk_id}", namespace=database)


def kiosk_identity(server, admin: AdminKeys, folder: Path, name: str, database: str = "test-db") -> None:
    identity, _, _ = load_identity(sync_settings(name, database, admin.root_public(), folder), name, lambda p: Path(p), environ={})
    enroll(server, admin, identity, database)


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seed_users(server, admin: AdminKeys, users: int, seed: int) -> dict:
    """``users`` records as kiosks push them (signed by kiosk "seed"), with updatedAt spread
    over the past year."""
    start = time.perf_counter()
    writer = KioskIdentity.generate("seed")
    enroll(server, admin, writer)
    codec = TemplateCodec(admin.template_key, encrypt=True)
    rng = np.random.default_rng(seed)
    password_hash = Passwords(settings_for(Path(".")).passwords).hash("one shared benchmark password", None)
    now_ms = int(time.time() * 1000)
    records, index = {}, {}
    for i in range(users):
        uid = str(uuid.uuid4())
        vectors = rng.standard_normal((TEMPLATES, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        email = f"user{i}@example.org"
        stamp = now_ms - (users - i) * 3000
        record = {
            "email": email,
            "passwordHash": password_hash,
            "model": MODEL,
            "templates": {str(uuid.uuid4()): base64.b64encode(codec.encode(uid, MODEL, v)).decode("ascii") for v in vectors},
            "deleted": False,
            "updatedAt": stamp,
            "createdAt": stamp,
            "origin": "seed",
            "writer": "seed",
            "changeId": f"seed:{i}",
            "revision": 1,
        }
        records[uid] = {**sign_record(writer, uid, record, stamp), "updatedAt": stamp}
        index[layout.encode_email_key(normalize_email(email).key)] = uid
    server.set_data(records, "/users")
    server.set_data(index, "/emailIndex")
    return {"seed_s": round(time.perf_counter() - start, 2), "json_mb": round(len(json.dumps(records)) / 1e6, 1)}


# -- child: the initial sync of a fresh kiosk -------------------------------------------------


def child_initial(folder: Path, database: str, root: str) -> int:
    settings = settings_for(folder)
    engine = engine_for("fresh", folder, root, database)
    before = memory_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    engine.run_pass()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = memory_mb("VmHWM")
    with Store.open(settings) as store:
        users = len(store.list_users())
    engine.stop()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": peak, "rss_before_mb": before, "users": users}))
    return 0


def initial_sync(root: Path, admin: AdminKeys, server) -> dict:
    folder = kiosk_folder(root, "fresh", admin.template_key)
    kiosk_identity(server, admin, folder, "fresh")
    env = {**os.environ, EMULATOR_ENV: server.emulator_host}
    result = subprocess.run(
        [sys.executable, __file__, "--child-initial", str(folder), "--root", admin.root_public()],
        env=env, capture_output=True, text=True, timeout=900,
    )
    if result.returncode != 0:
        raise SystemExit(f"initial sync child failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "initial_sync_s": round(report["seconds"], 2),
        "initial_sync_kiosk_cpu_s": round(report["cpu_s"], 2),  # the rest is the test server's work
        "initial_sync_peak_rss_mb": round(report["peak_rss_mb"], 1),
        "initial_sync_rss_before_mb": round(report["rss_before_mb"], 1),
        "initial_sync_users": report["users"],
    }


# -- propagation and drain (engines in this process) -------------------------------------------


def propagation(root: Path, admin: AdminKeys, server, changes: int, seed: int, kick: bool) -> dict:
    a_folder, b_folder = kiosk_folder(root, "a", admin.template_key), root / "fresh"  # b: the kiosk that did the initial sync
    kiosk_identity(server, admin, a_folder, "a")
    a_settings, b_settings = settings_for(a_folder), settings_for(b_folder)
    a_engine = engine_for("a", a_folder, admin.root_public())
    b_engine = engine_for("fresh", b_folder, admin.root_public())
    a_store, b_store = Store.open(a_settings), Store.open(b_settings)
    rng = np.random.default_rng(seed)
    a_engine.start()
    b_engine.start()
    try:
        if not (a_engine.wait_until_idle(300) and b_engine.wait_until_idle(300)):
            raise SystemExit("the kiosks did not come online")
        latencies = []
        for i in range(changes):
            vectors = rng.standard_normal((TEMPLATES, DIM)).astype(np.float32)
            email = f"new{i}@example.org"
            a_store.enroll(email, "benchmark password", list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)), MODEL)
            committed = time.perf_counter()
            if kick:
                a_engine.kick()
            while True:
                try:
                    b_store.face_templates(email, MODEL)
                    break
                except Exception:  # noqa: BLE001 - not there yet
                    if time.perf_counter() - committed > 30:
                        raise SystemExit(f"change {i} did not reach kiosk B within 30 s")
                    time.sleep(0.002)
            latencies.append(time.perf_counter() - committed)
            time.sleep(float(rng.uniform(0.05, 0.25)))  # independent changes, not a burst
    finally:
        a_engine.stop()
        b_engine.stop()
        a_store.close()
        b_store.close()
    latencies.sort()
    return {
        "propagation_p50_s": round(statistics.median(latencies), 3),
        "propagation_p95_s": round(latencies[int(0.95 * (len(latencies) - 1) + 0.5)], 3),
        "propagation_max_s": round(latencies[-1], 3),
        "propagation_changes": len(latencies),
        "propagation_kick": kick,
    }


def drain(root: Path, admin: AdminKeys, server, count: int, seed: int) -> dict:
    folder = kiosk_folder(root, "drainer", admin.template_key)
    kiosk_identity(server, admin, folder, "drainer", "drain-db")
    settings = settings_for(folder)
    engine = engine_for("drainer", folder, admin.root_public(), "drain-db")
    rng = np.random.default_rng(seed)
    with Store.open(settings) as store:
        for i in range(count):
            vectors = rng.standard_normal((TEMPLATES, DIM)).astype(np.float32)
            store.enroll(f"offline{i}@example.org", "benchmark password", list(vectors), MODEL)
        engine.run_pass()  # initial load of the empty database, stream, and the drain itself
        assert store.pending_count() == 0
    # Measure a second batch with the engine warmed up (connections open, stream up).
    with Store.open(settings) as store:
        for i in range(count):
            vectors = rng.standard_normal((TEMPLATES, DIM)).astype(np.float32)
            store.enroll(f"second{i}@example.org", "benchmark password", list(vectors), MODEL)
        start = time.perf_counter()
        engine._drain(engine._store, engine._remote)
        seconds = time.perf_counter() - start
        assert store.pending_count() == 0
    engine.stop()
    return {"outbox_drain_per_s": round(count / seconds, 1), "outbox_drain_changes": count}


def verification_cost(server, admin: AdminKeys, samples: int = 2000) -> dict:
    """Microseconds to trust one seeded record (certificate cached, as during a sync)."""
    users = list((server.get_data("/users") or {}).items())[:samples]
    certs = server.get_data("/kiosks") or {}
    trust = Trust(root_public_key(admin.root_public()), lambda k: certs.get(k, {}).get("cert"), lambda: None)
    trust.refresh()
    start = time.perf_counter()
    for uid, value in users:
        trust.check(uid, value)
    seconds = time.perf_counter() - start
    return {"verify_per_record_us": round(seconds / max(1, len(users)) * 1e6, 1), "verify_samples": len(users)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--drain", type=int, default=500)
    parser.add_argument("--no-kick", action="store_true", help="kiosk A finds changes by polling (sync.poll_s) only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child-initial", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_initial:
        return child_initial(args.child_initial, "test-db", args.root)

    from rtdb_server import RtdbServer

    admin = AdminKeys.generate()
    report: dict = {"users": args.users, "templates_per_user": TEMPLATES, "dim": DIM}
    with tempfile.TemporaryDirectory(prefix="facekiosk-sync-bench-") as tmp, RtdbServer(
        rules_path=ROOT / "database.rules.json", keepalive_s=30.0, record_requests=False
    ) as server:
        os.environ[EMULATOR_ENV] = server.emulator_host
        root = Path(tmp)
        report.update(seed_users(server, admin, args.users, args.seed))
        report.update(verification_cost(server, admin))
        report.update(initial_sync(root, admin, server))
        report.update(propagation(root, admin, server, args.changes, args.seed, kick=not args.no_kick))
        report.update(drain(root, admin, server, args.drain, args.seed))
    report["targets"] = TARGETS
    report["meets_targets"] = {name: report[name] <= limit for name, limit in TARGETS.items()}
    report["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    report["server"] = "tests/rtdb_server.py in this process, 127.0.0.1, no network latency"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            print(f"{name:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

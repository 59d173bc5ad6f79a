"""The child of the power-cut harness (tests/powercut.py): the real kiosk code writing to
the forgetting filesystem until the power goes.

Usage: powercut_writer.py MOUNT CONFIG SEED. First ``facekiosk install --root MOUNT/root
--no-start`` (idempotent: a later run after a cut finds its files), printing
``INSTALLED`` when it returned; then, on some rounds, a schema migration: a database as
FaceKiosk's schema version 1 left it (one user) is made and opened with this code, which
migrates it; then the store's write loop. Each line is printed once the code said done:

    E <user_id> <email> <templates>           enrollment (store_crash_writer.py's lines)
    P <user_id> <revision> <password>         password change
    D <user_id> <revision>                    deletion
    F <user_id> face|password <email>         a failed face or password attempt, counted
                                              (lockout, attempts ledger and audit row)
    M <file> <user_id> created|migrated       the old database made (synced), then opened
                                              and migrated by Store.open
    S <seq>                                   with sync on (the harness's local Realtime
                                              Database server): a sync pass (outbox drain,
                                              ledgers, catch-up, heartbeat) returned, so every
                                              outbox row up to seq reached the server
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import uuid
from pathlib import Path

import numpy as np

from kiosk.commands.install import CHECKOUT, Plan, install
from kiosk.config import load_config, parse_config
from kiosk.durable import fsync_dir
from kiosk.store import Store, db
from kiosk.store.errors import AuthenticationError, LockedOutError
from kiosk.store.passwords import Passwords
from kiosk.store.templates import TemplateCodec
from kiosk.sync import SyncEngine

MODEL = "crash/fp32@0"
OLD_PASSWORD = "old schema password"
# Failed attempts go only to accounts enrolled for them (emails starting with "t"), so the
# harness's sign-in check after a cut uses accounts the lockout leaves alone.
TARGET_PREFIX = "t"


def migrates(seed: int) -> bool:
    """Whether the round of ``seed`` makes and migrates an old database (the harness aims
    some cuts at that migration)."""
    return random.Random(seed * 7919).random() < 0.3


def old_database(path: Path, key_file: Path, passwords: dict[str, int]) -> str:
    """A schema version 1 database holding one user, synced (file and folder); its user id."""
    settings = parse_config({"store": {"path": str(path), "key_file": str(key_file)}, "passwords": dict(passwords)},
                            base_dir=path.parent)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        db.migrate(conn, migrations=db.MIGRATIONS[:1])
        user_id = str(uuid.uuid4())
        codec = TemplateCodec(key_file.read_bytes(), encrypt=True)
        vectors = np.random.default_rng(len(user_id)).standard_normal((3, 128)).astype(np.float32)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO users (id, email, email_key, password_hash, origin_kiosk, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'old-kiosk', 1, 1)",
            (user_id, f"old-{user_id[:8]}@example.org", f"old-{user_id[:8]}@example.org",
             Passwords(settings.passwords).hash(OLD_PASSWORD, None)),
        )
        for i, vector in enumerate(vectors):
            conn.execute("INSERT INTO templates (id, user_id, model_id, dim, blob, created_at) VALUES (?, ?, ?, 128, ?, ?)",
                         (str(uuid.uuid4()), user_id, MODEL, codec.encode(user_id, MODEL, vector), 1 + i))
        conn.execute("INSERT INTO outbox (user_id, kind, revision, created_at) VALUES (?, 'enroll', 1, 1)", (user_id,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for name in (path, Path(f"{path}-wal")):
        if name.exists():
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(path.parent)
    return user_id


def migration(config: str, seed: int) -> None:
    settings = load_config(config)
    main_db = Path(settings.store.path)
    key_file = Path(settings.store.key_file)
    folder = main_db.parent
    if not key_file.exists() or not folder.exists():
        return
    path = folder / f"old-{seed}.db"
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)  # a name reused by a later chain: start it clean
    user_id = old_database(path, key_file, {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1,
                                            "min_strength": 0})
    print(f"M {path.name} {user_id} created", flush=True)
    old = parse_config({"store": {"path": str(path), "key_file": str(key_file)},
                        "passwords": {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1,
                                      "min_strength": 0}}, base_dir=folder)
    with Store.open(old) as store:  # migrates to db.SCHEMA_VERSION
        store.list_users()
    print(f"M {path.name} {user_id} migrated", flush=True)


def drain(engine: SyncEngine | None, store: Store) -> None:
    """One sync pass against the server; ``S <seq>`` once it returned."""
    if engine is None:
        return
    last = store.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
    try:
        engine.run_pass()
    except Exception as err:  # noqa: BLE001 - a failed pass acknowledges nothing; the next one retries
        print(f"sync pass failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return
    print(f"S {last}", flush=True)


def loop(config: str, seed: int) -> None:
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed)
    settings = load_config(config)
    engine = None
    if settings.sync.enabled:
        engine = SyncEngine.from_settings(settings, settings.sync, model_dims={MODEL: 128})
    with Store.open(settings) as store:
        live = [(u.id, u.email) for u in store.list_users()]
        print("READY", flush=True)
        for i in range(1_000_000):
            if i % 8 == 7:
                drain(engine, store)
            roll = rng.random()
            targets = [entry for entry in live if entry[1].startswith(TARGET_PREFIX)]
            if roll < 0.45 or len(live) < 3:
                prefix = TARGET_PREFIX if rng.random() < 0.2 else "w"
                templates = vectors.standard_normal((3, 128)).astype(np.float32)
                user = store.enroll(f"{prefix}{seed}-{i}@example.org", f"first password {i}", templates, MODEL)
                live.append((user.id, user.email))
                print(f"E {user.id} {user.email} 3", flush=True)
            elif roll < 0.75:
                user_id, _ = rng.choice(live)
                password = f"password {seed}-{i}"
                user = store.change_password(user_id, password)
                print(f"P {user.id} {user.revision} {password}", flush=True)
            elif roll < 0.9 and targets:
                user_id, email = rng.choice(targets)
                if rng.random() < 0.5:
                    store.record_face_attempt(email, accepted=False, score=1.3, reason="powercut: different person")
                    print(f"F {user_id} face {email}", flush=True)
                elif not store.lockout_status(email).locked:
                    try:
                        store.sign_in_password(email, "not the password")
                    except (AuthenticationError, LockedOutError):  # counted, then refused
                        print(f"F {user_id} password {email}", flush=True)
            elif roll < 0.9:
                continue
            else:
                _, email = live.pop(rng.randrange(len(live)))
                user = store.delete_user(email)
                print(f"D {user.id} {user.revision}", flush=True)


def main(mount: str, config: str, seed: int) -> None:
    root = Path(mount) / "root"
    if not root.exists():  # stands for a machine's "/", which exists before any install
        root.mkdir()
        fsync_dir(mount)
    code = install(Plan(root, dry_run=False, out=lambda line: None), CHECKOUT, CHECKOUT / "config.yml", start=False)
    if code != 0:
        raise SystemExit(f"install exited {code}")
    print("INSTALLED", flush=True)
    if migrates(seed):
        migration(config, seed)
    loop(config, seed)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))

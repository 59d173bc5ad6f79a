"""Power cuts at random moments under the real kiosk code (tests/test_powercut.py and
benchmarks/powercut.py).

Each round mounts the forgetting filesystem (tests/fusefs.py) on what the last round's
cut left, starts tests/powercut_writer.py on it (``facekiosk install`` into it, then the
store's enrollments, password changes and deletions, each printed once the store said
done), cuts the power at a random moment (the filesystem stops and keeps only what was
synced; the writer is killed), and checks what survived:

* the installed config, unit and template key are absent or whole (never empty or torn),
  and once the database holds a user, the key it was made with is still there;
* ``PRAGMA integrity_check`` is ok, every change the writer reported is there with its
  outbox row, no user is half-written (tests/test_store_crash.py's checks);
* the store opens again with the surviving key and serves (every live user reads back,
  a password verifies);
* every failed face or password attempt the writer reported is in the audit log (written
  in the same durable transaction as the lockout count and the attempts ledger);
* an old (schema version 1) database the writer reported as made is there, whole, at
  version 1, an intermediate version (each step is one durable transaction) or (once
  reported as migrated) the current version, with its user, and the store opens it
  (finishing the migration if the cut stopped it) and signs its user in; some cuts are
  aimed into that migration (the filesystem stops at one of its writes or fsyncs);
* with sync (the default): every outbox row a finished sync pass covered is on the local
  Realtime Database server (tests/rtdb_server.py, in the harness: the cut is the kiosk's
  only) at its revision or later; after the last cut the kiosk drains the rest and the
  server holds exactly its users at their revisions.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher

from fusefs import ForgetfulMount
from powercut_writer import migrates
from store_support import TINY_ARGON2

ROOT = Path(__file__).resolve().parent.parent
WRITER = Path(__file__).resolve().parent / "powercut_writer.py"
KEY = Path("root/etc/facekiosk/template-key")
CONFIG = Path("root/etc/facekiosk/config.yml")
UNIT = Path("root/etc/systemd/system/facekiosk.service")
DB = Path("state/facekiosk.db")
# The writer's failed attempts lock their accounts (per email, as configured); the kiosk-wide
# limit is raised so they do not lock the whole kiosk, whose sign-ins the checks use.
LOCKOUT = {"kiosk_max_failures": 1_000_000}
# Writes and fsyncs of an old database and its WAL (strace of the writer's migration()):
# about 85 make it, about 120 more migrate it. An aimed cut picks one in the migration.
TRIP_OPS = (80, 210)
KINDS = {"E": "enrollments", "P": "password_changes", "D": "deletions", "F": "failed_attempts",
         "M created": "old_databases_made", "M migrated": "migrations", "S": "sync_passes"}


@dataclass
class Figures:
    cuts: int = 0
    acknowledged: int = 0  # changes the writer reported as saved
    by_kind: dict[str, int] = field(default_factory=dict)  # the same, per kind of change
    lost: int = 0  # acknowledged changes missing after a cut
    corrupt: int = 0  # databases failing integrity_check (or unreadable)
    torn_files: int = 0  # installed files present but not whole
    failed_starts: int = 0  # the store did not open and serve after a cut
    migrations_cut: int = 0  # old databases whose migration the cut interrupted (made, not reported migrated)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"cuts": self.cuts, "acknowledged_changes": self.acknowledged,
                "acknowledged_by_kind": dict(sorted(self.by_kind.items())), "changes_lost": self.lost,
                "corrupt_databases": self.corrupt, "torn_files": self.torn_files, "failed_starts": self.failed_starts,
                "migrations_cut_midway": self.migrations_cut,
                "failures": self.failures[:20]}


@dataclass
class Cloud:
    """The fleet's Realtime Database (tests/rtdb_server.py, in the harness: the power cut
    is the kiosk's only) and this kiosk's place in it: enrolled identity, fleet keys."""

    server: Any
    admin: Any
    sync: dict[str, Any]

    def stop(self) -> None:
        self.server.stop()


def start_cloud(work: Path) -> Cloud:
    from rtdb_server import RtdbServer
    from sync_support import DATABASE_URL, FAST, RULES, enroll

    from kiosk.config.sync import SyncSettings
    from kiosk.fleet.admin import AdminKeys
    from kiosk.fleet.identity import load_identity
    from kiosk.sync.firebase import EMULATOR_ENV

    server = RtdbServer(rules_path=RULES, keepalive_s=0.5).start()
    os.environ[EMULATOR_ENV] = server.emulator_host  # the harness's checks and the writer alike
    admin = AdminKeys.generate()
    sync = {"enabled": True, "database_url": DATABASE_URL, "kiosk_id": "cut-kiosk",
            "fleet_root_key": admin.root_public(), "identity_file": str(work / "kiosk-identity.json"), **FAST}
    identity, _, _ = load_identity(SyncSettings(**sync), "cut-kiosk", lambda p: Path(p), environ={})
    enroll(admin, identity)
    return Cloud(server, admin, sync)


def _writer_config(mount: Path, folder: Path, cloud: Cloud | None = None) -> Path:
    data: dict[str, Any] = {
        "store": {"path": str(mount / DB), "key_file": str(mount / KEY)},
        "passwords": dict(TINY_ARGON2),
        "lockout": dict(LOCKOUT),
    }
    if cloud is not None:
        data["sync"] = dict(cloud.sync)
    path = folder / "writer.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _read_available(fd: int, deadline: float, want: bytes = b"") -> bytes:
    """Bytes from the pipe until ``want`` appears, the deadline passes or it closes."""
    import select

    out = b""
    while time.monotonic() < deadline and (not want or want not in out):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out += chunk
    return out


def one_cut(work: Path, disk: Path, rng: random.Random, seed: int,
            cloud: Cloud | None = None) -> tuple[Path, list[list[str]], str]:
    """One round; returns the folder holding what survived, the reported changes and the
    writer's stderr tail."""
    mount_point = work / "mnt"
    after = work / f"after-{seed}"
    config = _writer_config(mount_point, work, cloud)
    mount = ForgetfulMount(disk, mount_point)
    proc = subprocess.Popen([sys.executable, str(WRITER), str(mount_point), str(config), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    out = b""
    try:
        if migrates(seed) and rng.random() < 0.5:
            # Aimed at the old database's migration: the power goes at one of the writes
            # and fsyncs of Store.open migrating it (else later, at a random moment).
            mount.trip(f"old-{seed}.db", rng.randint(*TRIP_OPS))
            out += _read_available(fd, time.monotonic() + 30.0, b"READY")
            out += _read_available(fd, time.monotonic() + rng.uniform(0.0, 1.5))
        elif rng.random() < 0.25:  # during start-up: install, opening, migrating
            out += _read_available(fd, time.monotonic() + rng.uniform(0.0, 3.0))
        else:
            out += _read_available(fd, time.monotonic() + 30.0, b"READY")  # the store is open
            out += _read_available(fd, time.monotonic() + rng.uniform(0.0, 1.5))
        mount.cut(after)  # the power goes: from here the filesystem answers nothing
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
        mount.unmount()
    # Only lines read before the cut count (what the writer printed after it never reached
    # anyone); a line cut by the kill has no newline.
    lines = out.decode().split("\n")[:-1]
    events = [line.split(" ", 3) for line in lines if line not in ("READY", "INSTALLED")]
    shutil.rmtree(mount_point, ignore_errors=True)
    return after, events, err.decode()[-600:]


def check_files(after: Path, expected_config: bytes, expected_unit: bytes, figures: Figures, label: str) -> bool:
    """The installed files: absent or whole; True when the key is there (32 bytes)."""
    for rel, expected in ((CONFIG, expected_config), (UNIT, expected_unit)):
        path = after / rel
        if path.exists() and path.read_bytes() != expected:
            figures.torn_files += 1
            figures.failures.append(f"{label}: {rel} torn ({path.stat().st_size} bytes)")
    key = after / KEY
    if key.exists() and len(key.read_bytes()) != 32:
        figures.torn_files += 1
        figures.failures.append(f"{label}: {KEY} torn ({len(key.read_bytes())} bytes)")
        return False
    return key.exists()


def check_serves(after: Path, live_passwords: dict[str, tuple[int, str]], figures: Figures, label: str,
                 locked_ok: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """The kiosk's store opens on what survived, with its key, and answers."""
    from kiosk.config import parse_config
    from kiosk.store import Store

    settings = parse_config({"store": {"path": str(after / DB), "key_file": str(after / KEY)},
                             "passwords": dict(TINY_ARGON2), "lockout": dict(LOCKOUT)}, base_dir=after)
    try:
        with Store.open(settings) as store:
            users = store.list_users()
            for user in [u for u in users if u.id not in locked_ok][:3]:
                store.face_templates(user.email, "crash/fp32@0")  # decrypts: the key is the right one
            by_id = {user.id: user for user in users}
            # The last reported password, where the account is still at that change's
            # revision: a later change the writer made but the cut kept from being
            # reported (committed, line unread) legitimately replaced it.
            current = [(uid, pw) for uid, (revision, pw) in live_passwords.items()
                       if uid in by_id and by_id[uid].revision == revision]
            for user_id, password in current[:2]:
                store.sign_in_password(by_id[user_id].email, password)  # raises if it does not match
    except Exception as err:  # noqa: BLE001 - any failure to serve is the finding
        figures.failed_starts += 1
        figures.failures.append(f"{label}: the store did not serve: {type(err).__name__}: {err}")


def check_attempts(db_path: Path, failed: dict[str, int], figures: Figures, label: str) -> None:
    """Every reported failed attempt has its audit row (lockout and ledger share its transaction)."""
    import sqlite3

    if not failed or not db_path.exists():
        return
    conn = sqlite3.connect(db_path)
    try:
        counted = dict(conn.execute(
            "SELECT user_id, COUNT(*) FROM audit WHERE result = 'fail' AND action IN ('sign_in_face', 'sign_in_password') "
            "GROUP BY user_id").fetchall())
    finally:
        conn.close()
    for user_id, count in failed.items():
        if counted.get(user_id, 0) < count:
            figures.lost += count - counted.get(user_id, 0)
            figures.failures.append(f"{label}: {count} failed attempts on {user_id} reported, {counted.get(user_id, 0)} in the audit log")


def check_migration(after: Path, events: list[list[str]], has_key: bool, figures: Figures, label: str) -> None:
    """The old database of this round: whole, at version 1 or migrated, and served."""
    import sqlite3

    from powercut_writer import OLD_PASSWORD

    from kiosk.config import parse_config
    from kiosk.store import Store, db

    created = [e for e in events if e[3] == "created"]
    migrated = {e[1] for e in events if e[3] == "migrated"}
    cut_during = len([e for e in created if e[1] not in migrated])
    figures.migrations_cut += cut_during
    for _, name, user_id, _ in created:
        path = after / DB.parent / name
        if not path.exists():
            figures.lost += 1
            figures.failures.append(f"{label}: the old database {name} is gone")
            continue
        try:
            conn = sqlite3.connect(path)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], "integrity_check"
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                row = conn.execute("SELECT email FROM users WHERE id = ?", (user_id,)).fetchone()
            finally:
                conn.close()
        except Exception as err:  # noqa: BLE001
            figures.corrupt += 1
            figures.failures.append(f"{label}: old database {name} unreadable: {type(err).__name__}: {err}")
            continue
        # Each migration step is its own durable transaction: a cut between steps leaves a
        # whole database at an intermediate version, which the next start carries on from.
        if not 1 <= version <= db.SCHEMA_VERSION or (name in migrated and version != db.SCHEMA_VERSION):
            figures.corrupt += 1
            figures.failures.append(f"{label}: old database {name} at schema version {version} (migrated reported: {name in migrated})")
        if row is None:
            figures.lost += 1
            figures.failures.append(f"{label}: the old database {name} lost its user")
            continue
        if not has_key:
            continue
        settings = parse_config({"store": {"path": str(path), "key_file": str(after / KEY)}, "passwords": dict(TINY_ARGON2)},
                                base_dir=path.parent)
        try:
            with Store.open(settings) as store:
                store.sign_in_password(row[0], OLD_PASSWORD)
                store.face_templates(row[0], "crash/fp32@0")
                now = store.conn.execute("PRAGMA user_version").fetchone()[0]
                assert now == db.SCHEMA_VERSION, f"opened at schema version {now}, not {db.SCHEMA_VERSION}"
        except Exception as err:  # noqa: BLE001
            figures.failed_starts += 1
            figures.failures.append(f"{label}: the migrated store {name} did not serve: {type(err).__name__}: {err}")


def _cloud_revisions(cloud: Cloud) -> dict[str, tuple[int, bool]]:
    users = cloud.server.get_data("/users") or {}
    return {uid: (int(record.get("revision", 0)), bool(record.get("deleted"))) for uid, record in users.items()}


def check_synced(db_path: Path, cloud: Cloud, synced_seq: int, figures: Figures, label: str) -> None:
    """Every outbox row a finished sync pass covered is on the server (at its revision or later)."""
    import sqlite3

    if synced_seq <= 0 or not db_path.exists():
        return
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT user_id, MAX(revision) FROM outbox WHERE seq <= ? GROUP BY user_id", (synced_seq,)).fetchall()
    finally:
        conn.close()
    cloud_has = _cloud_revisions(cloud)
    for user_id, revision in rows:
        if cloud_has.get(user_id, (0, False))[0] < revision:
            figures.lost += 1
            figures.failures.append(f"{label}: user {user_id} revision {revision} was drained but the server has "
                                    f"{cloud_has.get(user_id, (None,))[0]}")


def check_converges(after: Path, cloud: Cloud, figures: Figures) -> None:
    """After the last cut the kiosk drains what is left and the server holds its table."""
    from kiosk.config import parse_config
    from kiosk.store import Store
    from kiosk.sync import SyncEngine

    settings = parse_config({"store": {"path": str(after / DB), "key_file": str(after / KEY)}, "passwords": dict(TINY_ARGON2),
                             "lockout": dict(LOCKOUT), "sync": dict(cloud.sync)}, base_dir=after)
    if not (after / DB).exists():
        return
    engine = SyncEngine.from_settings(settings, settings.sync, model_dims={"crash/fp32@0": 128})
    try:
        for _ in range(10):
            engine.run_pass()
            with Store.open(settings) as store:
                if store.pending_count() == 0:
                    local = {u.id: (u.revision, u.deleted_at is not None) for u in store.list_users(include_deleted=True)}
                    break
        else:
            figures.failures.append("end: the outbox did not drain in 10 passes")
            return
    except Exception as err:  # noqa: BLE001
        figures.failed_starts += 1
        figures.failures.append(f"end: the last sync did not run: {type(err).__name__}: {err}")
        return
    finally:
        engine.stop()
    cloud_has = _cloud_revisions(cloud)
    for user_id, state in local.items():
        if cloud_has.get(user_id) != state:
            figures.lost += 1
            figures.failures.append(f"end: user {user_id} is {state} here and {cloud_has.get(user_id)} on the server")
    figures.by_kind["users_on_server_after_the_cuts"] = len(cloud_has)


def run_cuts(work: Path, cuts: int, seed: int = 1, log: Any = None, sync: bool = True) -> Figures:
    from test_store_crash import _check

    from kiosk.commands.install import CHECKOUT, installed_config_text, unit_text

    rng = random.Random(seed)
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    expected_config = installed_config_text(CHECKOUT / "config.yml", CHECKOUT).encode()
    expected_unit = unit_text(CHECKOUT).encode()
    figures = Figures()
    reported: dict[str, list[list[str]]] = defaultdict(list)
    failed: dict[str, int] = defaultdict(int)  # user id -> failed attempts reported
    targets: set[str] = set()  # accounts the writer's failed attempts go to (the lockout may hold them)
    disk = work / "disk-0"
    disk.mkdir(parents=True)
    cloud = start_cloud(work) if sync else None
    if cloud is not None:  # the fleet's template key, as `facekiosk fleet join` leaves it (install keeps it)
        (disk / KEY).parent.mkdir(parents=True)
        (disk / KEY).write_bytes(cloud.admin.template_key)
        (disk / KEY).chmod(0o600)
    try:
        return _cut_rounds(work, disk, cuts, rng, log, cloud, figures, reported, failed, targets, hasher,
                           expected_config, expected_unit, _check)
    finally:
        if cloud is not None:
            cloud.stop()


def _cut_rounds(work: Path, disk: Path, cuts: int, rng: random.Random, log: Any, cloud: Cloud | None, figures: Figures,
                reported: dict[str, list[list[str]]], failed: dict[str, int], targets: set[str], hasher: Any,
                expected_config: bytes, expected_unit: bytes, _check: Any) -> Figures:
    synced_seq = 0
    after = disk
    for number in range(cuts):
        after, events, err = one_cut(work, disk, rng, number, cloud)
        label = f"cut {number + 1}"
        figures.cuts += 1
        figures.acknowledged += len(events)
        for event in events:
            kind = KINDS.get(event[0] if event[0] != "M" else f"M {event[3]}", event[0])
            figures.by_kind[kind] = figures.by_kind.get(kind, 0) + 1
            if event[0] in ("E", "P", "D"):
                reported[event[1]].append(event)
                if event[0] == "E" and event[2].startswith("t"):
                    targets.add(event[1])
            elif event[0] == "F":
                failed[event[1]] += 1
            elif event[0] == "S":
                synced_seq = max(synced_seq, int(event[1]))
        has_key = check_files(after, expected_config, expected_unit, figures, label)
        db = after / DB
        if not db.exists():
            if reported:
                figures.lost += sum(len(v) for v in reported.values())
                figures.failures.append(f"{label}: the database is gone with {len(reported)} acknowledged users")
                reported.clear()
                failed.clear()
        else:
            try:
                _check(db, reported, hasher)
            except AssertionError as err:
                text = str(err).splitlines()[0]
                if "integrity" in text or "PRAGMA" in text:
                    figures.corrupt += 1
                else:
                    figures.lost += 1
                figures.failures.append(f"{label}: {text}")
            except Exception as err:  # noqa: BLE001
                figures.corrupt += 1
                figures.failures.append(f"{label}: unreadable database: {type(err).__name__}: {err}")
            check_attempts(db, failed, figures, label)
            if cloud is not None:
                check_synced(db, cloud, synced_seq, figures, label)
            if has_key:
                passwords = {}
                for user_id, items in reported.items():
                    if user_id in targets:
                        continue  # the lockout may hold it: its refusals are the kiosk serving
                    changes = [e for e in items if e[0] in ("P", "D")]
                    if changes and changes[-1][0] == "P":
                        passwords[user_id] = (int(changes[-1][2]), changes[-1][3])
                check_serves(after, passwords, figures, label, targets)
            elif reported:
                figures.lost += 1
                figures.failures.append(f"{label}: the template key is gone but the database holds acknowledged users")
        check_migration(after, [e for e in events if e[0] == "M"], has_key, figures, label)
        if log is not None:
            log(f"{label}: {len(events)} acknowledged; totals {figures.as_dict() | {'failures': len(figures.failures)}}")
        shutil.rmtree(disk, ignore_errors=True)
        disk = after
        if figures.failures and len(figures.failures) > 50:
            break
    if cloud is not None:
        check_converges(after, cloud, figures)
    return figures

"""Shared pieces of the sync tests: kiosks (store + engine) against tests/rtdb_server.py."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import firebase_admin

from kiosk.config import Settings
from kiosk.config.sync import SyncSettings
from kiosk.fleet.admin import AdminKeys, enroll_kiosk
from kiosk.fleet.identity import KioskIdentity, load_identity
from kiosk.store import Store
from kiosk.sync import SyncEngine
from kiosk.sync.firebase import EMULATOR_ENV, open_app
from rtdb_server import RtdbServer
from store_support import MODEL, make_settings, unit_vectors

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "database.rules.json"
DATABASE_URL = "https://test-db.firebaseio.com"
PASSWORD = "correct horse battery"

# Fast loops for tests: production defaults are in kiosk/config/sync.py.
FAST = dict(
    poll_s=0.05,
    catchup_interval_s=30.0,
    catchup_overlap_s=2.0,
    heartbeat_s=1.0,
    stream_silence_s=5.0,
    ring_jitter_s=0.0,  # rings answered at once (tests/test_sync_fanout.py tries the jitter)
    backoff_initial_s=0.05,
    backoff_max_s=0.5,
    http_timeout_s=5.0,
    page_size=50,
)


def sync_settings(name: str, root_key: str = "", **overrides: Any) -> SyncSettings:
    return SyncSettings(enabled=True, database_url=DATABASE_URL, kiosk_id=name, fleet_root_key=root_key, **{**FAST, **overrides})


def admin_app(admin: AdminKeys) -> firebase_admin.App:
    """A firebase-admin app for the administrator's commands (delete it when done)."""
    import uuid

    return open_app(sync_settings("admin", admin.root_public()), lambda p: Path(p), name=f"admin-{uuid.uuid4().hex}", as_admin=True)


def enroll(admin: AdminKeys, identity: KioskIdentity, now_ms: int | None = None, valid_days: int = 365) -> dict[str, Any]:
    app = admin_app(admin)
    try:
        return enroll_kiosk(app, admin, identity.public(), int(time.time() * 1000) if now_ms is None else now_ms, valid_days)
    finally:
        firebase_admin.delete_app(app)


class ThreadErrors:
    """Exceptions that end background threads (the SDK's listener threads among them)."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, BaseException]] = []
        self.allowed: tuple[type[BaseException], ...] = ()

    def hook(self, args: threading.ExceptHookArgs) -> None:
        self.errors.append((args.thread.name if args.thread else "?", args.exc_value))

    def unexpected(self) -> list[tuple[str, BaseException]]:
        return [(name, exc) for name, exc in self.errors if not isinstance(exc, self.allowed)]


class Kiosk:
    """One kiosk: a data folder with its own database, a Store for the test thread (the
    "UI") and a SyncEngine that opens its own Store. The template key is the fleet's; the
    kiosk's identity is made in its folder and (``enrolled``) certified by the fleet root."""

    def __init__(self, root: Path, name: str, admin: AdminKeys, enrolled: bool = True, **sync_overrides: Any) -> None:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "template-key").write_bytes(admin.template_key)
        (folder / "template-key").chmod(0o600)
        self.name = name
        self.folder = folder
        self.admin = admin
        self.sync = sync_settings(name, admin.root_public(), identity_file=str(folder / "kiosk-identity.json"), **sync_overrides)
        # The store sees the same sync settings as the engine (a deletion keeps the email
        # its push needs to free the cloud's index only when sync is on).
        self.settings: Settings = make_settings(folder).model_copy(update={"sync": self.sync})
        self.identity, _, _ = load_identity(self.sync, name, self.settings.resolve, environ={})
        if enrolled:
            enroll(admin, self.identity)
        self.store = Store.open(self.settings)
        self.engine = self.make_engine()

    def make_engine(self, **kwargs: Any) -> SyncEngine:
        settings, sync = self.settings, self.sync
        kwargs.setdefault("logger", logging.getLogger(f"kiosk.sync.{self.name}"))
        kwargs.setdefault("identity", lambda kiosk_id: load_identity(sync, kiosk_id, settings.resolve, environ={})[0])
        kwargs.setdefault("model_dims", {MODEL: 128})
        return SyncEngine(sync, lambda: Store.open(settings), lambda: open_app(sync, settings.resolve), **kwargs)

    def enroll(self, email: str, seed: int, password: str = PASSWORD) -> str:
        user = self.store.enroll(email, password, list(unit_vectors(3, seed=seed)), MODEL)
        self.engine.kick()
        return user.id

    def table(self) -> dict[str, tuple]:
        return user_table(self.store)

    def close(self) -> None:
        self.engine.stop()
        self.store.close()


def user_table(store: Store) -> dict[str, tuple]:
    """Every user row (tombstones too) with what must agree across kiosks."""
    conn = store.conn
    templates: dict[str, set] = {}
    for user_id, template_id, model_id, blob in conn.execute("SELECT user_id, id, model_id, blob FROM templates"):
        templates.setdefault(user_id, set()).add((template_id, model_id, bytes(blob)))
    return {
        user_id: (email, email_key, password_hash, deleted_at is not None, origin, frozenset(templates.get(user_id, ())))
        for user_id, email, email_key, password_hash, deleted_at, origin in conn.execute(
            "SELECT id, email, email_key, password_hash, deleted_at, origin_kiosk FROM users"
        )
    }


def live_emails(store: Store) -> list[str]:
    return sorted(row[0] for row in store.conn.execute("SELECT email_key FROM users WHERE deleted_at IS NULL"))


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def converge(kiosks: list[Kiosk], timeout_s: float = 30.0) -> bool:
    """Wait until every engine is idle and every kiosk holds the same table."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for kiosk in kiosks:
            kiosk.engine.request_catch_up()
        if all(k.engine.wait_until_idle(max(0.1, deadline - time.monotonic())) for k in kiosks):
            tables = [k.table() for k in kiosks]
            if all(t == tables[0] for t in tables[1:]):
                return True
        time.sleep(0.05)
    return False


def cloud_users(server: RtdbServer) -> dict[str, Any]:
    return server.get_data("/users") or {}


def cloud_index(server: RtdbServer) -> dict[str, Any]:
    return server.get_data("/emailIndex") or {}


def assert_cloud_matches(server: RtdbServer, kiosk: Kiosk) -> None:
    """The cloud holds exactly the kiosk's users, and the index exactly its live emails."""
    from kiosk.sync.layout import encode_email_key

    users = cloud_users(server)
    table = kiosk.table()
    assert set(users) == set(table)
    for user_id, (email, email_key, password_hash, deleted, origin, templates) in table.items():
        record = users[user_id]
        assert record["deleted"] is deleted
        if deleted:
            assert not {"email", "passwordHash", "templates"} & set(record)
        else:
            assert record["email"] == email and record["passwordHash"] == password_hash
    expected_index = {encode_email_key(key): uid for uid, (_, key, _, deleted, _, _) in table.items() if not deleted}
    index = cloud_index(server)
    differ = sorted(key for key in set(index) | set(expected_index) if index.get(key) != expected_index.get(key))
    assert not differ, {key: (index.get(key), expected_index.get(key)) for key in differ}  # (cloud, expected)


def vectors(seed: int) -> np.ndarray:
    return unit_vectors(3, seed=seed)


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch):
    collected = ThreadErrors()
    monkeypatch.setattr(threading, "excepthook", collected.hook)
    yield collected
    assert not collected.unexpected(), collected.unexpected()


@pytest.fixture
def server():
    with RtdbServer(rules_path=RULES, keepalive_s=0.5) as srv:
        yield srv


@pytest.fixture
def fleet(tmp_path: Path, server: RtdbServer, monkeypatch: pytest.MonkeyPatch):
    """make(name, **sync overrides) -> Kiosk enrolled in one fleet (root key, template key);
    all closed afterwards. ``make.admin`` is the fleet's AdminKeys."""
    monkeypatch.setenv(EMULATOR_ENV, server.emulator_host)
    admin = AdminKeys.generate()
    kiosks: list[Kiosk] = []

    def make(name: str, **overrides: Any) -> Kiosk:
        kiosk = Kiosk(tmp_path, name, admin, **overrides)
        kiosks.append(kiosk)
        return kiosk

    make.admin = admin  # type: ignore[attr-defined]
    yield make
    for kiosk in kiosks:
        kiosk.close()


# What firebase-admin sends for "the server's time" (a record's updatedAt, a ring).
SERVER_TIMESTAMP = {".sv": "timestamp"}


def passes(*kiosks: "Kiosk", rounds: int = 2) -> None:
    """Passes that each end with a catch-up (the doorbell is asynchronous: it is tested
    with running engines in test_sync_failures.py)."""
    for _ in range(rounds):
        for kiosk in kiosks:
            kiosk.engine.request_catch_up()
            kiosk.engine.run_pass()

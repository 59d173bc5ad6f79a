"""Cloud tombstones and attempts ledgers are purged once every kiosk has seen them (issue 14
item 2): each kiosk publishes how far its catch-up got (/kiosks/{id}/seenAt, with its
heartbeat); `facekiosk fleet purge` removes the tombstones (and their accounts' ledgers)
stamped before the oldest of those, and nothing while a kiosk of the fleet lags or never
reported. Real firebase-admin against tests/rtdb_server.py.
"""

from __future__ import annotations

import time

import firebase_admin
import pytest

from kiosk.fleet.admin import purge_seen
from kiosk.fleet.certs import root_public_key
from rtdb_server import RtdbServer
from sync_support import admin_app, fleet, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")


def sync(*kiosks) -> None:
    for kiosk in kiosks:
        kiosk.engine.request_catch_up()
        kiosk.engine._next_seen_report = 0.0  # publish seenAt now
        kiosk.engine.run_pass()


def purge(fleet, **kwargs):
    app = admin_app(fleet.admin)
    try:
        return purge_seen(app, root_public_key(fleet.admin.root_public()), int(time.time() * 1000),
                          older_than_ms=0, margin_ms=0, **kwargs)
    finally:
        firebase_admin.delete_app(app)


def test_tombstones_go_once_every_kiosk_has_seen_them(fleet, server: RtdbServer) -> None:
    a, b, c = fleet("a"), fleet("b"), fleet("c")
    gone = a.enroll("gone@example.org", seed=1)
    kept = a.enroll("kept@example.org", seed=2)
    sync(a, b, c, a)
    a.store.record_face_attempt("gone@example.org", accepted=False, score=0.9)
    a.store.delete_user("gone@example.org")
    sync(a, b)
    assert (server.get_data(f"/users/{gone}") or {}).get("deleted") is True
    report = purge(fleet)
    assert report.purged_users == [] and report.waiting_for == ["c"]  # c has not caught up
    sync(c)
    report = purge(fleet, dry_run=True)
    assert report.purged_users == [gone] and server.get_data(f"/users/{gone}") is not None
    report = purge(fleet)
    assert report.purged_users == [gone] and report.waiting_for == []
    assert server.get_data(f"/users/{gone}") is None
    assert not [key for key in (server.get_data("/attempts") or {}) if key.startswith(f"{gone}:")]
    assert (server.get_data(f"/users/{kept}") or {}).get("deleted") is False
    # Sync goes on as before: a new enrollment reaches every kiosk, the deleted user stays deleted.
    new = b.enroll("new@example.org", seed=3)
    sync(b, a, c)
    for kiosk in (a, b, c):
        assert new in kiosk.table() and kiosk.table()[gone][3] is True


def test_a_kiosk_that_never_reported_blocks_the_purge(fleet, server: RtdbServer) -> None:
    a = fleet("a")
    fleet("quiet")  # enrolled, never synced
    gone = a.enroll("gone@example.org", seed=4)
    sync(a)
    a.store.delete_user("gone@example.org")
    sync(a)
    report = purge(fleet)
    assert report.purged_users == [] and report.waiting_for == ["quiet"]
    assert server.get_data(f"/users/{gone}") is not None

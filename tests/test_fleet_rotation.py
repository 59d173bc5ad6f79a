"""Template key rotation with a kiosk offline during the change (issue 13 item 6), real
firebase-admin against tests/rtdb_server.py: enrollments made before, during and after all
verify on every kiosk, the offline kiosk catches up when back, and after retiring the old key
no cloud template is sealed under it."""

from __future__ import annotations

import time
from pathlib import Path

import firebase_admin
import pytest

from kiosk.fleet import rotation
from kiosk.fleet.errors import FleetError
from kiosk.store.templates import blob_key_id
from rtdb_server import RtdbServer
from sync_support import MODEL, admin_app, fleet, server, thread_errors  # noqa: F401 - fixtures

pytestmark = [pytest.mark.usefixtures("thread_errors"), pytest.mark.slow]


def sync(*kiosks) -> None:
    for kiosk in kiosks:
        kiosk.engine.request_catch_up()
        kiosk.engine.run_pass()


def now_ms() -> int:
    return int(time.time() * 1000)


def admin(fleet, action, *args):
    app = admin_app(fleet.admin)
    try:
        return action(app, *args)
    finally:
        firebase_admin.delete_app(app)


def opens(kiosk) -> set[str]:
    """The users whose templates this kiosk's UI store opens (the gallery decrypts them all)."""
    return {owner.decode() if isinstance(owner, bytes) else str(owner) for owner in kiosk.store.gallery(MODEL).owners}


def test_rotation_with_a_kiosk_offline(fleet, server: RtdbServer, tmp_path: Path) -> None:
    folder = tmp_path / "fleet-admin"
    fleet.admin.save(folder)
    a, b, c = fleet("a"), fleet("b"), fleet("c")
    before = a.enroll("before@example.org", seed=1)
    sync(a, b, c, a, b, c)

    new_id, sealed_to = admin(fleet, rotation.rotate, folder, now_ms())
    assert new_id == "k2" and sealed_to == ["a", "b", "c"]
    # c is offline. a and b take k2 in at their next catch-up and seal new templates with it.
    sync(a, b)
    during = a.enroll("during@example.org", seed=2)
    offline = c.enroll("offline@example.org", seed=3)  # c still seals with k1
    assert a.store.codec.current_key_id == "k2" and c.store.codec.current_key_id == "k1"
    sync(a, b, a, b)
    assert {before, during} <= opens(b)
    with pytest.raises(FleetError, match="c \\(never reported"):
        admin(fleet, rotation.retire, folder, "k1", now_ms())

    # c comes back: it takes k2 in before it pulls, so a's k2 enrollment is applied, not quarantined.
    sync(c, a, b, c, a, b, c)
    assert c.store.codec.current_key_id == "k2" and c.engine.status().quarantined == 0
    after = b.enroll("after@example.org", seed=4)
    for _ in range(3):
        sync(a, b, c)
    everyone = {before, during, offline, after}
    for kiosk in (a, b, c):
        assert opens(kiosk) >= everyone, kiosk.name
    progress = admin(fleet, rotation.progress, fleet.admin.root.public_key(), now_ms())
    assert [(p.kiosk_id, p.current, p.waiting) for p in progress] == [("a", "k2", 0), ("b", "k2", 0), ("c", "k2", 0)]

    admin(fleet, rotation.retire, folder, "k1", now_ms())
    assert admin(fleet, rotation.cloud_blobs, "k1") == {}
    users = server.get_data("/users") or {}
    import base64
    assert {blob_key_id(base64.b64decode(t)) for u in users.values() for t in (u.get("templates") or {}).values()} == {"k2"}
    assert all("k1" not in (node.get("templateKeys") or {}) for node in (server.get_data("/kiosks") or {}).values())
    sync(a, b, c)
    for kiosk in (a, b, c):
        assert "k1" not in kiosk.engine._store.codec.key_ids, kiosk.name  # noqa: SLF001
    last = c.enroll("last@example.org", seed=5)
    sync(c, a, b)
    for kiosk in (a, b, c):
        assert opens(kiosk) >= everyone | {last}, kiosk.name

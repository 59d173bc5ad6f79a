"""Revoking a stolen kiosk: within one catch-up every kiosk refuses its records, the
records it wrote before stay as they were at the kiosks that applied them, a kiosk added
later refuses them all, and the administrator gets the list to review."""

from __future__ import annotations

import time
import uuid

import firebase_admin
import pytest

from kiosk.fleet.admin import records_by, revoke_kiosk
from kiosk.fleet.records import sign_record
from sync_support import admin_app, fleet, Kiosk, passes, PASSWORD, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")



def test_a_revoked_kiosks_records_are_refused_within_one_catch_up(fleet, server) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    old = a.enroll("before@example.org", seed=1)
    passes(a, b)
    assert old in b.table()
    since = int(time.time() * 1000)
    app = admin_app(fleet.admin)
    try:
        revoke_kiosk(app, fleet.admin, "a", since, "stolen")
        # The thief keeps a's key and writes a new user, signed as a.
        new = str(uuid.uuid4())
        copied = dict(server.get_data(f"/users/{old}"))
        record = {k: v for k, v in copied.items() if k not in ("updatedAt", "sig", "signedAt", "writer")}
        record.update(changeId="a:999", email="after@example.org", templates=copied["templates"])
        firebase_admin.db.reference(f"/users/{new}", app).set({**sign_record(a.identity, new, record, since + 1), "updatedAt": {".sv": "timestamp"}})
        passes(b, rounds=1)  # one catch-up
        assert new not in b.table()
        assert old in b.table() and b.store.sign_in_password("before@example.org", PASSWORD).id == old
        assert b.engine.status().quarantined >= 1  # the new one (and a's older ones it re-reads)
        # A kiosk added after the revocation refuses everything a wrote.
        c = fleet("c")
        passes(c)
        assert old not in c.table() and new not in c.table()
        # The revoked kiosk itself is told.
        with pytest.raises(Exception, match="revoked"):
            passes(a, rounds=1)
        # The administrator's list to review: what a wrote since the chosen time.
        listed = records_by(app, "a", since)
        assert [r.user_id for r in listed] == [new]
        assert {r.user_id for r in records_by(app, "a", 0)} == {old, new}
    finally:
        firebase_admin.delete_app(app)


def test_a_revocation_not_signed_by_the_root_is_ignored(fleet, server) -> None:  # noqa: F811
    from kiosk.fleet.admin import AdminKeys

    a, b = fleet("a"), fleet("b")
    uid = a.enroll("kept@example.org", seed=2)
    app = admin_app(fleet.admin)
    try:
        revoke_kiosk(app, AdminKeys.generate(), "a", int(time.time() * 1000), "forged")
    finally:
        firebase_admin.delete_app(app)
    passes(a, b)
    assert uid in b.table()

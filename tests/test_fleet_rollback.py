"""Rolling a revoked kiosk's changes back (issue 13 item 3): a stolen kiosk, still trusted,
overwrites a victim's password hash and templates with the attacker's; every kiosk applies
it. After the administrator revokes it and a trusted kiosk runs the rollback, every kiosk
(and one added later) holds the victim's previous hash and templates again, signed by the
kiosk that wrote them, and the victim signs in with the old password. Real firebase-admin
against tests/rtdb_server.py."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import firebase_admin
import pytest
from firebase_admin import db

from kiosk.errors import KioskError
from kiosk.fleet import rollback
from kiosk.fleet.admin import revoke_kiosk
from kiosk.fleet.certs import root_public_key
from kiosk.fleet.records import restore_record, sign_record
from kiosk.store import history
from kiosk.store.emails import normalize_email
from kiosk.store.errors import AuthenticationError
from kiosk.sync.firebase import open_app
from store_support import MODEL, unit_vectors
from sync_support import admin_app, cloud_users, fleet, Kiosk, passes, PASSWORD, server, SERVER_TIMESTAMP, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")  # each test under 1.5 s: in the fast set

VICTIM = "victim@example.org"
ATTACKER_PASSWORD = "the attacker's own password 7"



def forge(thief: Kiosk, user_id: str, seed: int) -> dict[str, Any]:
    """What the stolen kiosk writes: the victim's record with the attacker's password hash
    and face, signed with the stolen kiosk's own (still trusted) key."""
    app = open_app(thief.sync, thief.settings.resolve, name=f"thief-{uuid.uuid4().hex}")
    try:
        ref = db.reference(f"/users/{user_id}", app)
        current = ref.get()
        record = {k: v for k, v in current.items() if k not in ("updatedAt", "sig", "signedAt", "writer")}
        record.update(
            passwordHash=thief.store.passwords.hash(ATTACKER_PASSWORD, normalize_email(VICTIM)),
            templates={str(uuid.uuid4()): base64.b64encode(thief.store.codec.encode(user_id, MODEL, v)).decode()
                       for v in unit_vectors(3, seed=seed)},
            changeId=f"{thief.name}-db:999", base=current["changeId"], revision=current["revision"] + 1,
        )
        signed = sign_record(thief.identity, user_id, record, int(time.time() * 1000))
        ref.set({**signed, "updatedAt": SERVER_TIMESTAMP})
        return signed
    finally:
        firebase_admin.delete_app(app)


def run_rollback(kiosk: Kiosk, revoked: str, since_ms: int, apply: bool = True) -> list[rollback.Outcome]:
    app = open_app(kiosk.sync, kiosk.settings.resolve, name=f"rollback-{uuid.uuid4().hex}")
    try:
        trust = rollback.trust_of(app, root_public_key(kiosk.sync.fleet_root_key))
        plans = rollback.plan(app, kiosk.store, trust, revoked, since_ms)
        if not apply:
            return [rollback.Outcome(p, "listed") for p in plans]
        return rollback.apply(app, kiosk.store, trust, kiosk.identity, plans, int(time.time() * 1000))
    finally:
        firebase_admin.delete_app(app)


def test_a_revoked_kiosks_takeover_is_rolled_back_on_every_kiosk(fleet, server) -> None:  # noqa: F811
    a, b, c = fleet("a"), fleet("b"), fleet("c")
    victim = a.enroll(VICTIM, seed=1)
    bystander = a.enroll("bystander@example.org", seed=2)
    passes(a, b, c)
    before = a.table()[victim]
    since = int(time.time() * 1000)

    # The attack: b (stolen, not yet revoked) overwrites the victim's hash and templates.
    forge(b, victim, seed=66)
    passes(a, c)
    for kiosk in (a, c):
        assert kiosk.store.sign_in_password(VICTIM, ATTACKER_PASSWORD).id == victim, kiosk.name
        assert kiosk.table()[victim] != before
        with pytest.raises(AuthenticationError):
            kiosk.store.sign_in_password(VICTIM, PASSWORD)

    # The administrator revokes b; the kiosks that applied the forgery keep it meanwhile.
    app = admin_app(fleet.admin)
    try:
        revoke_kiosk(app, fleet.admin, "b", int(time.time() * 1000), "stolen")
    finally:
        firebase_admin.delete_app(app)
    passes(a, c)
    assert a.store.sign_in_password(VICTIM, ATTACKER_PASSWORD).id == victim
    quarantined = a.engine.status().quarantined  # the forgery, read again after the revocation

    # On kiosk c: the list first, then --apply.
    listed = run_rollback(c, "b", since, apply=False)
    assert [(o.plan.user_id, o.plan.current.change_id) for o in listed] == [(victim, "b-db:999")]
    restore = listed[0].plan.restore
    assert restore is not None and restore.writer == "a"  # a's version, kept by c when it pulled it
    [outcome] = run_rollback(c, "b", since)
    assert outcome.result == rollback.RESTORED and outcome.local == "updated"

    # The cloud holds a's version with a's own signature, wrapped in c's restoration.
    record = cloud_users(server)[victim]
    assert (record["writer"], record["restoredBy"]) == ("a", "c")
    assert record["restoredRevision"] > record["revision"]

    d = fleet("d")  # added after the rollback: loads the restored version like any record
    passes(a, c, d)
    for kiosk in (a, c, d):
        assert kiosk.table()[victim] == before, kiosk.name  # the previous hash and the previous templates
        assert kiosk.store.sign_in_password(VICTIM, PASSWORD).id == victim
        with pytest.raises(AuthenticationError):
            kiosk.store.sign_in_password(VICTIM, ATTACKER_PASSWORD)
        assert bystander in kiosk.table()
    assert a.engine.status().quarantined == quarantined  # the restoration is trusted
    assert d.engine.status().quarantined == 0

    # The rollback is done: nothing left to list, and a second --apply changes nothing.
    assert run_rollback(c, "b", since) == []
    # A later change of the victim's at a trusted kiosk goes above the restored revision.
    a.store.change_password(victim, "a brand new password 42")
    passes(a, c)
    assert c.store.sign_in_password(VICTIM, "a brand new password 42").id == victim


def test_the_thief_cannot_restore_or_fake_a_restoration(fleet, server) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    victim = a.enroll(VICTIM, seed=3)
    passes(a, b)
    forged = forge(b, victim, seed=67)
    passes(a)
    app = admin_app(fleet.admin)
    try:
        revoke_kiosk(app, fleet.admin, "b", int(time.time() * 1000), "stolen")
        ref = db.reference(f"/users/{victim}", app)
        # The revoked kiosk "restores" its own forgery above every revision: refused.
        wrapped = restore_record(b.identity, victim, forged, 1000, int(time.time() * 1000))
        ref.set({**wrapped, "updatedAt": SERVER_TIMESTAMP})
        passes(a, rounds=1)
        assert a.engine.status().quarantined >= 1
        # a's genuine older version with an envelope that claims a trusted restorer but is
        # not signed by it (the revision raised by hand): refused too.
        [kept] = [v for v in a.store.record_versions(victim) if v.writer == "a"]
        fake = restore_record(b.identity, victim, kept.record, 2000, int(time.time() * 1000))
        fake["restoredBy"] = "a"
        ref.set({**fake, "updatedAt": SERVER_TIMESTAMP})
        before = a.engine.status().quarantined
        passes(a, rounds=1)
        assert a.engine.status().quarantined == before + 1
    finally:
        firebase_admin.delete_app(app)
    # The rollback refuses to run for a kiosk that is not revoked.
    with pytest.raises(KioskError, match="not revoked"):
        run_rollback(a, "a", 0, apply=False)


def test_history_is_bounded_keeps_each_writers_newest_and_goes_with_a_deletion(fleet) -> None:  # noqa: F811
    a, b = fleet("a", keep_versions=2), fleet("b", keep_versions=2)
    victim = a.enroll(VICTIM, seed=4)
    passes(a, b)
    for n in range(4):
        b.store.change_password(victim, f"password number {n} at b")
        passes(b, a)
    writers = [v.writer for v in a.store.record_versions(victim)]
    # the two newest (b's), and a's newest beyond them: b's many versions cannot push a's out
    assert writers == ["b", "b", "a"]
    assert [v.revision for v in a.store.record_versions(victim)][:2] == sorted(
        [v.revision for v in a.store.record_versions(victim)][:2], reverse=True)
    a.store.delete_user(VICTIM)
    passes(a, b)
    for kiosk in (a, b):
        assert kiosk.store.record_versions(victim) == []
        assert history.count(kiosk.store.conn) == 0


def test_a_kiosk_upgraded_from_the_previous_release_reads_every_record_once_into_its_history(fleet) -> None:  # noqa: F811
    import json

    from sync_support import DATABASE_URL

    a, b = fleet("a"), fleet("b")
    first, second = a.enroll(VICTIM, seed=5), a.enroll("other@example.org", seed=6)
    passes(a, b)
    seen = b.store.sync_state(DATABASE_URL).last_seen_ms
    # What the previous release left: no kept versions, a sync state without a format.
    conn = b.store.conn
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM record_history")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'sync_state'",
                 (json.dumps({"database": DATABASE_URL, "initial_done": True, "last_seen_ms": seen}).encode(),))
    conn.execute("COMMIT")
    assert b.store.sync_state(DATABASE_URL).last_seen_ms == 0  # read everything again, once
    passes(b, rounds=1)
    assert [v.writer for v in b.store.record_versions(first)] == ["a"]
    assert [v.writer for v in b.store.record_versions(second)] == ["a"]
    assert b.store.sync_state(DATABASE_URL).last_seen_ms > 0  # and the cursor is back where the records are


def test_a_stale_version_the_stolen_kiosk_re_published_is_rolled_forward_again(fleet, server) -> None:  # noqa: F811
    """The thief, still trusted, re-publishes the victim's older genuine version (the old
    password) with its own restoration envelope; after the revocation the rollback finds it
    (restored by the revoked kiosk) and restores the newest version a trusted kiosk signed."""
    a, b, c = fleet("a"), fleet("b"), fleet("c")
    victim = a.enroll(VICTIM, seed=7)
    passes(a, b, c)
    [old] = b.store.record_versions(victim)
    a.store.change_password(victim, "the new password 77")
    passes(a, b, c)
    since = int(time.time() * 1000)
    app = admin_app(fleet.admin)
    try:
        ref = db.reference(f"/users/{victim}", app)
        replay = restore_record(b.identity, victim, old.record, layout_revision(ref.get()) + 1, since + 1)
        ref.set({**replay, "updatedAt": SERVER_TIMESTAMP})
        passes(a, c)
        assert c.store.sign_in_password(VICTIM, PASSWORD).id == victim  # the old password works again
        revoke_kiosk(app, fleet.admin, "b", int(time.time() * 1000), "stolen")
    finally:
        firebase_admin.delete_app(app)
    passes(a, c)
    [outcome] = run_rollback(c, "b", since)
    assert outcome.plan.current.restored_only and outcome.result == rollback.RESTORED
    assert outcome.plan.restore is not None and outcome.plan.restore.writer == "a"
    passes(a, c)
    for kiosk in (a, c):
        assert kiosk.store.sign_in_password(VICTIM, "the new password 77").id == victim
        with pytest.raises(AuthenticationError):
            kiosk.store.sign_in_password(VICTIM, PASSWORD)


def layout_revision(value: Any) -> int:
    from kiosk.sync.layout import record_revision

    revision = record_revision(value)
    assert revision is not None
    return revision

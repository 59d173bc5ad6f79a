"""Attacks by someone holding a copy of one kiosk's disk (its database credentials, the
fleet template key, even its identity key), against kiosks syncing through the local RTDB
server with the real firebase-admin SDK. Each was seen to succeed before records were
signed and pulls validated (see the issue and the commit that made it fail).
"""

from __future__ import annotations

import uuid
from typing import Any

import firebase_admin
import numpy as np
import pytest
from argon2 import PasswordHasher
from firebase_admin import db

from kiosk.store.errors import AuthenticationError
from kiosk.store.templates import TemplateCodec
from rtdb_server import RtdbServer
from store_support import MODEL, unit_vectors
from sync_support import cloud_users, DATABASE_URL, fleet, Kiosk, passes, PASSWORD, server, SERVER_TIMESTAMP, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")

ATTACKER_PASSWORD = "attacker's own password"



class Attacker:
    """The database as the stolen service account sees it (the SDK, bypassing the rules),
    and the fleet template key read from the stolen kiosk's disk."""

    def __init__(self, stolen: Kiosk) -> None:
        self.app = firebase_admin.initialize_app(None, {"databaseURL": DATABASE_URL}, name=f"attacker-{uuid.uuid4().hex}")
        key = stolen.settings.resolve("template-key").read_bytes()
        self.codec = TemplateCodec(key, True)
        self.stolen = stolen

    def close(self) -> None:
        firebase_admin.delete_app(self.app)

    def ref(self, path: str) -> db.Reference:
        return db.reference(path, self.app)

    def templates(self, user_id: str, seed: int, dim: int = 128, count: int = 3) -> dict[str, str]:
        import base64

        return {
            str(uuid.uuid4()): base64.b64encode(self.codec.encode(user_id, MODEL, vector)).decode()
            for vector in unit_vectors(count, dim=dim, seed=seed)
        }

    def forged_user(self, user_id: str, email: str, seed: int, dim: int = 128, **extra: Any) -> dict[str, Any]:
        record = {
            "deleted": False,
            "updatedAt": SERVER_TIMESTAMP,
            "createdAt": 1_700_000_000_000,
            "origin": self.stolen.name,
            "writer": self.stolen.name,
            "changeId": f"forged:{uuid.uuid4().hex}",
            "revision": 50,
            "email": email,
            "passwordHash": PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(ATTACKER_PASSWORD),
            "model": MODEL,
            "templates": self.templates(user_id, seed, dim),
        }
        record.update(extra)
        return record

    def write(self, user_id: str, record: dict[str, Any]) -> None:
        self.ref(f"/users/{user_id}").set(record)
        self.ref(f"/kiosks/{self.stolen.name}/changedAt").set(SERVER_TIMESTAMP)  # ring


@pytest.fixture
def attacker_of(fleet):  # noqa: F811
    made: list[Attacker] = []

    def make(stolen: Kiosk) -> Attacker:
        made.append(Attacker(stolen))
        return made[-1]

    yield make
    for attacker in made:
        attacker.close()


def victim_row(kiosk: Kiosk, user_id: str) -> tuple:
    return kiosk.table()[user_id]


def test_a_forged_record_does_not_take_over_an_account_at_the_other_kiosk(fleet, attacker_of, server: RtdbServer) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    victim = a.enroll("victim@example.org", seed=1)
    passes(a, b)
    before = victim_row(b, victim)
    attacker = attacker_of(a)
    attacker.write(victim, attacker.forged_user(victim, "victim@example.org", seed=99))
    passes(b)
    with pytest.raises(AuthenticationError):
        b.store.sign_in_password("victim@example.org", ATTACKER_PASSWORD)
    assert b.store.sign_in_password("victim@example.org", PASSWORD).id == victim
    assert victim_row(b, victim) == before  # password hash and templates as they were
    assert b.engine.status().quarantined == 1
    assert "1 quarantined" in b.engine.status().line()


def test_a_legitimately_signed_record_copied_onto_another_user_or_replayed_is_not_applied(fleet, attacker_of) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    victim = a.enroll("victim@example.org", seed=1)
    own = a.enroll("attacker@example.org", seed=2, password=ATTACKER_PASSWORD)
    passes(a, b)
    attacker = attacker_of(a)
    old_version = dict(attacker.ref(f"/users/{victim}").get())
    # The attacker's own signed record, copied onto the victim's id: the uid is signed.
    copied = dict(attacker.ref(f"/users/{own}").get())
    attacker.write(victim, {**copied, "email": copied["email"], "updatedAt": SERVER_TIMESTAMP})
    passes(b)
    with pytest.raises(AuthenticationError):
        b.store.sign_in_password("victim@example.org", ATTACKER_PASSWORD)
    # An older genuine version written again after the victim changed their password.
    a.store.change_password(victim, "the victim's new password")
    passes(a, b)
    attacker.write(victim, {**old_version, "updatedAt": SERVER_TIMESTAMP})
    passes(b)
    assert b.store.sign_in_password("victim@example.org", "the victim's new password").id == victim


def test_a_forged_tombstone_neither_deletes_the_user_nor_freezes_sync(fleet, attacker_of) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    victim = a.enroll("victim@example.org", seed=1)
    passes(a, b)
    attacker = attacker_of(a)
    tombstone = {"deleted": True, "updatedAt": 2**52, "createdAt": 1, "origin": "a", "writer": "a", "changeId": "x:1", "revision": 99}
    attacker.write(victim, tombstone)
    passes(b)
    assert victim_row(b, victim)[3] is False  # not deleted
    # Later changes from the other kiosk keep arriving.
    later = a.enroll("later@example.org", seed=3)
    passes(a, b)
    assert later in b.table() and victim_row(b, victim)[3] is False
    # A kiosk added afterwards starts from the server's time, not from 2^52.
    c = fleet("c")
    passes(c)
    last = a.enroll("last@example.org", seed=4)
    passes(a, c)
    # The forgery replaced the genuine record in the cloud: c cannot get the victim (until
    # a kiosk writes the user again) but refuses the forgery and gets everything else.
    assert {later, last} <= set(c.table()) and victim not in c.table()
    assert c.engine.status().quarantined == 1


def test_a_record_that_would_break_the_gallery_is_quarantined_and_enrollment_keeps_working(fleet, attacker_of) -> None:  # noqa: F811
    a, b = fleet("a"), fleet("b")
    attacker = attacker_of(a)
    odd = str(uuid.uuid4())
    attacker.write(odd, attacker.forged_user(odd, "odd@example.org", seed=5, dim=64))
    passes(b)
    assert odd not in b.table()
    uid = b.enroll("new@example.org", seed=6)  # loads the gallery (duplicate check)
    passes(b)
    assert uid in b.table()


def test_even_with_the_stolen_kiosks_own_key_a_64_value_template_is_quarantined(fleet, attacker_of) -> None:  # noqa: F811
    from kiosk.fleet.records import sign_record

    a, b = fleet("a"), fleet("b")
    attacker = attacker_of(a)
    odd = str(uuid.uuid4())
    record = attacker.forged_user(odd, "odd@example.org", seed=5, dim=64)
    unsigned = {k: v for k, v in record.items() if k != "updatedAt"}
    attacker.write(odd, {**sign_record(a.identity, odd, unsigned, 1_800_000_000_000 - 1), "updatedAt": SERVER_TIMESTAMP})
    passes(b)
    assert odd not in b.table() and b.engine.status().quarantined == 1
    uid = b.enroll("new@example.org", seed=6)
    passes(b)
    assert uid in b.table()


def test_a_self_made_certificate_under_another_root_is_not_trusted(fleet, attacker_of) -> None:  # noqa: F811
    from kiosk.fleet.admin import AdminKeys, enroll_kiosk
    from kiosk.fleet.identity import KioskIdentity
    from kiosk.fleet.records import sign_record

    a, b = fleet("a"), fleet("b")
    victim = a.enroll("victim@example.org", seed=1)
    passes(a, b)
    attacker = attacker_of(a)
    rogue_root = AdminKeys(AdminKeys.generate().root, {"k1": fleet.admin.template_key}, "k1")
    evil = KioskIdentity.generate("evil")
    enroll_kiosk(attacker.app, rogue_root, evil.public(), 1_700_000_000_000, 3650)
    record = attacker.forged_user(victim, "victim@example.org", seed=99, writer="evil")
    unsigned = {k: v for k, v in record.items() if k != "updatedAt"}
    attacker.write(victim, {**sign_record(evil, victim, unsigned, 1_700_000_000_001), "updatedAt": SERVER_TIMESTAMP})
    passes(b)
    with pytest.raises(AuthenticationError):
        b.store.sign_in_password("victim@example.org", ATTACKER_PASSWORD)
    entries = __import__("kiosk.store.quarantine", fromlist=["entries"]).entries(b.store)
    assert [(e.user_id, e.writer) for e in entries] == [(victim, "evil")]
    assert "certificate" in entries[0].reason


def test_truncated_signature_and_a_certificate_past_its_validity_are_quarantined(fleet, attacker_of, caplog) -> None:  # noqa: F811
    import logging

    from kiosk.fleet.records import sign_record

    caplog.set_level(logging.WARNING, logger="kiosk.sync")
    a, b = fleet("a"), fleet("b")
    attacker = attacker_of(a)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    record = {k: v for k, v in attacker.forged_user(one, "one@example.org", seed=7).items() if k != "updatedAt"}
    signed = sign_record(a.identity, one, record, 1_800_000_000_000 - 1)
    attacker.write(one, {**signed, "sig": signed["sig"][:40], "updatedAt": SERVER_TIMESTAMP})
    record = {k: v for k, v in attacker.forged_user(two, "two@example.org", seed=8).items() if k != "updatedAt"}
    far = 1_800_000_000_000 + 3 * 365 * 86_400_000  # after a's certificate (one year) expires
    attacker.write(two, {**sign_record(a.identity, two, record, far), "updatedAt": SERVER_TIMESTAMP})
    passes(b)
    assert not {one, two} & set(b.table())
    lines = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(lines) == 2, lines  # one line each, once
    assert not any("@example.org" in line for line in lines)  # no email in the log
    passes(b)
    assert len([r for r in caplog.records if "quarantined" in r.getMessage()]) == 2  # not again


def test_a_kiosk_with_a_template_key_of_its_own_refuses_to_sync_with_one_clear_line(fleet, tmp_path) -> None:  # noqa: F811
    import os

    from kiosk.fleet.admin import AdminKeys
    from kiosk.fleet.errors import FleetError
    from sync_support import enroll

    fleet("a")
    # The README's old per-kiosk step (head -c 32 /dev/urandom > template-key), then enrolled.
    own_key = AdminKeys(fleet.admin.root, {"k1": os.urandom(32)}, "k1")
    k = Kiosk(tmp_path, "k", own_key, enrolled=False)
    enroll(fleet.admin, k.identity)
    try:
        with pytest.raises(FleetError, match="fleet join"):
            k.engine.run_pass()
        assert "fleet join" in k.engine.status().line()
    finally:
        k.close()


def test_an_unenrolled_kiosk_pushes_nothing_and_says_why(fleet, tmp_path) -> None:  # noqa: F811
    from kiosk.fleet.errors import FleetError

    a = fleet("a")
    k = Kiosk(tmp_path, "newcomer", fleet.admin, enrolled=False)
    try:
        k.enroll("someone@example.org", seed=9)
        with pytest.raises(FleetError, match="not enrolled"):
            k.engine.run_pass()
        assert k.store.pending_count() == 1
    finally:
        k.close()
    assert a is not None


def test_templates_only_change_with_a_trusted_record(fleet, attacker_of) -> None:  # noqa: F811
    """The forged face would have matched the victim at distance 0 (the issue's attack)."""
    a, b = fleet("a"), fleet("b")
    victim = a.enroll("victim@example.org", seed=1)
    passes(a, b)
    attacker = attacker_of(a)
    attacker.write(victim, attacker.forged_user(victim, "victim@example.org", seed=99))
    passes(b)
    blobs = {blob for _, _, blob in victim_row(b, victim)[5]}
    vectors = np.stack([attacker.codec.decode(victim, MODEL, blob) for blob in blobs])
    attacker_face = unit_vectors(3, seed=99)[0]
    assert np.min(np.linalg.norm(vectors - attacker_face, axis=1)) > 0.5

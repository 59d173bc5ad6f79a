"""The database rules as a second wall (issue 13 item 5): a kiosk connects as itself
(``databaseAuthVariableOverride = {"uid": <kiosk id>}``), and database.rules.json refuses
what that identity must never write, whatever the kiosk's code does: a malformed or
impersonating user record, another kiosk's heartbeat or certificate, a revocation, taking
or freeing the /emailIndex entry of a live user.

Each attack runs twice: through the connection kiosks had before (the service account with
no override, which bypasses every rule: the attack succeeds, which is why signatures stay
the real defence) and through the kiosk's own connection (the server refuses it).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable

import firebase_admin
import pytest
from firebase_admin import db, exceptions

from kiosk.fleet.records import sign_record
from kiosk.store.emails import normalize_email
from kiosk.sync import layout
from kiosk.sync.firebase import open_app
from rtdb_server import RtdbServer
from sync_support import Kiosk, assert_cloud_matches, cloud_users, fleet, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")

TS = {".sv": "timestamp"}


def converge(kiosks: list[Kiosk], rounds: int = 2) -> bool:
    """Whole passes on the test thread, then every kiosk holds the same table."""
    for _ in range(rounds):
        for kiosk in kiosks:
            kiosk.engine.request_catch_up()
            kiosk.engine.run_pass()
    return all(kiosk.table() == kiosks[0].table() for kiosk in kiosks)


def _victim_and_thief(fleet: Callable[..., Kiosk]) -> tuple[Kiosk, Kiosk, str, str]:
    victim_kiosk, thief = fleet("k1"), fleet("k2")
    user_id = victim_kiosk.enroll("victim@example.org", seed=1)
    assert converge([victim_kiosk, thief])
    return victim_kiosk, thief, user_id, normalize_email("victim@example.org").key


def _connect(thief: Kiosk, as_admin: bool) -> firebase_admin.App:
    return open_app(thief.sync, thief.settings.resolve, name=f"thief-{uuid.uuid4().hex}", as_admin=as_admin)


def _attacks(thief: Kiosk, victim_id: str, email_key: str) -> dict[str, Callable[[firebase_admin.App], Any]]:
    """Writes the thief's kiosk identity must never make (each takes the app to write with)."""
    index = layout.email_index_path(email_key)
    own_uid = str(uuid.uuid4())

    def record(**changes: Any) -> Callable[[firebase_admin.App], Any]:
        def write(app: firebase_admin.App) -> None:
            current = db.reference(layout.user_path(victim_id), app).get()
            forged = {**current, "updatedAt": TS, "changeId": f"x:{uuid.uuid4().hex}", "revision": current["revision"] + 1}
            forged = sign_record(thief.identity, victim_id, forged, 1_700_000_000_000)
            for name, value in changes.items():
                if value is None:
                    forged.pop(name, None)
                else:
                    forged[name] = value
            db.reference(layout.user_path(victim_id), app).set(forged)
        return write

    return {
        "plain-text password hash": record(passwordHash="attacker's password"),
        "far-future updatedAt": record(updatedAt=2**52),
        "64-value template": record(templates={str(uuid.uuid4()): "QUFB" * 80 + "!"}),
        "unsigned record": record(sig=None),
        "record in another kiosk's name": record(writer="k1"),
        "unknown nested field": record(extra={"a": 1}),
        "a language that is no language code": record(language="en\"><script>"),
        "delete a user": lambda app: db.reference(layout.user_path(victim_id), app).delete(),
        "another kiosk's heartbeat": lambda app: db.reference("/kiosks/k1/heartbeatAt", app).set(TS),
        "another kiosk's certificate": lambda app: db.reference("/kiosks/k1/cert", app).set({"forged": True}),
        "its own certificate": lambda app: db.reference("/kiosks/k2/cert", app).set({"forged": True}),
        "a sealed template key": lambda app: db.reference("/kiosks/k2/templateKeys/k9", app).set("QUFB"),
        "a revocation": lambda app: db.reference("/revocations/k1", app).set({"kiosk": "k1", "sig": "x"}),
        "the template key statement": lambda app: db.reference("/fleet/templateKeys", app).set({"current": "k9"}),
        "steal a live user's email": lambda app: db.reference(index, app).set(own_uid),
        "free a live user's email": lambda app: db.reference(index, app).delete(),
        "a ring in another kiosk's name": lambda app: db.reference("/ring", app).set({"by": "k1", "at": TS, "n": 1}),
        "another kiosk's attempts ledger": lambda app: db.reference(layout.attempts_path(victim_id, "k1"), app).set(
            sign_record(thief.identity, layout.ledger_subject(victim_id), layout.ledger_record(victim_id, ""), 1)),
    }


ATTACKS = [
    "plain-text password hash", "far-future updatedAt", "64-value template", "unsigned record",
    "record in another kiosk's name", "unknown nested field", "a language that is no language code", "delete a user", "another kiosk's heartbeat",
    "another kiosk's certificate", "its own certificate", "a sealed template key", "a revocation",
    "the template key statement", "steal a live user's email", "free a live user's email",
    "a ring in another kiosk's name", "another kiosk's attempts ledger",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_rules_refuse_what_a_kiosk_must_not_write(fleet, server: RtdbServer, attack: str) -> None:
    victim_kiosk, thief, victim_id, email_key = _victim_and_thief(fleet)
    before = server.get_data("/")
    # Through the service account as kiosks used it before (no override): the attack lands.
    bypass = _connect(thief, as_admin=True)
    try:
        _attacks(thief, victim_id, email_key)[attack](bypass)
    finally:
        firebase_admin.delete_app(bypass)
    assert server.get_data("/") != before, "the attack changed nothing even without the rules"
    server.set_data(before)
    # Through the kiosk's own connection (what its sync engine uses): refused, nothing changes.
    own = _connect(thief, as_admin=False)
    try:
        with pytest.raises(exceptions.UnauthenticatedError, match="Permission denied"):
            _attacks(thief, victim_id, email_key)[attack](own)
    finally:
        firebase_admin.delete_app(own)
    assert server.get_data("/") == before


def test_a_kiosks_own_writes_pass_the_rules(fleet, server: RtdbServer) -> None:
    """What the kiosks do (enroll, change, delete, free and take over an email, heartbeats,
    rings, ledgers, quarantine counts) all goes through under the rules; every request of
    theirs carried the kiosk's identity."""
    k1, k2 = fleet("k1"), fleet("k2")
    ann = k1.enroll("ann@example.org", seed=1)
    k2.enroll("bob@example.org", seed=2)
    assert converge([k1, k2])
    k2.store.delete_user("ann@example.org")
    k2.engine.kick()
    assert converge([k1, k2])
    assert cloud_users(server)[ann]["deleted"] is True
    k1.enroll("ann@example.org", seed=3)  # the freed email, taken again
    assert converge([k1, k2])
    assert_cloud_matches(server, k1)
    kiosks = server.get_data("/kiosks")
    assert {"heartbeatAt", "cert"} <= set(kiosks["k1"]) and {"heartbeatAt", "cert"} <= set(kiosks["k2"])
    overrides = {dict(r.query).get("auth_variable_override") for r in server.requests() if r.method != "GET"}
    assert {'{"uid":"k1"}', '{"uid":"k2"}'} <= overrides
    assert overrides <= {'{"uid":"k1"}', '{"uid":"k2"}', None}  # None: the administrator's enrollments


def test_every_attack_is_run(tmp_path: Path) -> None:
    class Thief:
        identity = None

    assert sorted(_attacks(Thief(), str(uuid.uuid4()), "e@x,org")) == sorted(ATTACKS)  # type: ignore[arg-type]

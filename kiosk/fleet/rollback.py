"""Rolling a revoked kiosk's changes back to the last version a trusted kiosk signed.

Run on a trusted kiosk (``facekiosk fleet rollback KIOSK --since TIME``), after the
administrator revoked KIOSK. For each user whose current cloud record KIOSK wrote (or
re-published with its own restoration envelope) since TIME, the kiosk looks through the signed versions it kept (``record_history``) for the
newest one that still verifies now: signed by a kiosk that is not revoked, whose
certificate was valid when it signed, and not by KIOSK. With ``apply`` it publishes that
version again:

* **Provenance stays.** The version keeps its writer, fields and signature exactly as they
  were; nobody re-signs a record another kiosk wrote. The restoring kiosk adds an envelope
  (``restoredBy``, ``restoredAt``, ``restoredRevision``, ``restoreSig``, see records.py)
  signed with its own key, which every kiosk checks like a record's signature.
* **Every kiosk converges.** ``restoredRevision`` is above the revision of the forged
  version it replaces, so the kiosks that applied the forgery take the restored version
  over it (revisions only grow), those that never applied it hold that version already
  (same ``changeId``: nothing to change), and a kiosk added later loads it like any
  record. The write is conditional on the cloud still holding the forged version, then the
  fleet's doorbell rings; the kiosk applies it to its own store at once.

A deletion the revoked kiosk made cannot be rolled back: a deletion erases the history
(the erasure promise wins). A user it enrolled has no earlier version: nothing to restore.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import firebase_admin
from firebase_admin import db

from kiosk.fleet.admin import WrittenRecord, records_by
from kiosk.fleet.errors import FleetError
from kiosk.fleet.identity import KioskIdentity
from kiosk.fleet.records import restore_record
from kiosk.fleet.trust import Trust, Untrusted
from kiosk.store import Store
from kiosk.store.history import Version
from kiosk.store.replica import RemoteRecordError
from kiosk.sync import layout

# Results of apply
RESTORED = "restored"
CHANGED = "changed meanwhile"  # the cloud no longer holds the version listed: left alone
NOTHING = "nothing to restore"


@dataclass(frozen=True)
class Plan:
    user_id: str
    current: WrittenRecord  # the cloud version the revoked kiosk wrote
    restore: Version | None  # the newest trusted version kept here
    why_not: str = ""  # when restore is None


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    result: str  # RESTORED, CHANGED or NOTHING
    revision: int | None = None
    local: str = ""  # what the local store made of it (replica outcome)


def trust_of(app: firebase_admin.App, root: Any) -> Trust:
    def certificate(kiosk_id: str) -> Any:
        return db.reference(layout.certificate_path(kiosk_id), app).get()

    trust = Trust(root, certificate, lambda: db.reference(f"/{layout.REVOCATIONS}", app).get())
    trust.refresh()
    return trust


def plan(app: firebase_admin.App, store: Store, trust: Trust, kiosk_id: str, since_ms: int) -> list[Plan]:
    """What would be restored: every current cloud record ``kiosk_id`` wrote since ``since_ms``."""
    if kiosk_id not in trust.revocations:
        raise FleetError(
            f"kiosk {kiosk_id} is not revoked: revoke it first (`facekiosk fleet revoke`), or it could write again"
        )
    plans = []
    for record in records_by(app, kiosk_id, since_ms):
        chosen: Version | None = None
        for version in store.record_versions(record.user_id):
            if version.writer == kiosk_id or (version.change_id == record.change_id and not record.restored_only):
                continue  # (a version it only re-published is another kiosk's: restored again, by this one)
            try:
                trust.check(record.user_id, version.record)
            except Untrusted:
                continue
            chosen = version
            break
        why = "" if chosen is not None else (
            "a deletion (erased everywhere, history too)" if record.deleted else
            "no earlier version signed by a trusted kiosk is kept here (enrolled by that kiosk, or try another kiosk)"
        )
        plans.append(Plan(record.user_id, record, chosen, why))
    return plans


def apply(
    app: firebase_admin.App, store: Store, trust: Trust, identity: KioskIdentity, plans: list[Plan], now_ms: int,
    max_templates: int = 32,
) -> list[Outcome]:
    """Publish each plan's version again with this kiosk's restoration envelope, if the
    cloud still holds the version listed; ring the doorbell; apply it here."""
    cert = trust.certificate(identity.kiosk_id)  # Untrusted if this kiosk is not enrolled
    if identity.kiosk_id in trust.revocations:
        raise FleetError(f"this kiosk ({identity.kiosk_id}) is revoked: run the rollback on a trusted kiosk")
    if cert.signing_key != identity.public().signing_key or not cert.valid_at(now_ms):
        raise FleetError("this kiosk's certificate is not valid now or was issued for other keys: run it on an enrolled kiosk")
    outcomes = []
    written = False
    for item in plans:
        if item.restore is None:
            outcomes.append(Outcome(item, NOTHING))
            continue
        ref = db.reference(layout.user_path(item.user_id), app)
        value, etag = ref.get(etag=True)
        if not isinstance(value, dict) or value.get("changeId") != item.current.change_id:
            outcomes.append(Outcome(item, CHANGED))
            continue
        revision = max(layout.record_revision(value) or 1, item.restore.revision) + 1
        restored = restore_record(identity, item.user_id, item.restore.record, revision, now_ms)
        ok, now_there, _ = ref.set_if_unchanged(etag, {**restored, "updatedAt": layout.SERVER_TIMESTAMP})
        if not ok and not _ours(now_there, restored):  # a 412 for our own write whose answer was lost counts as done
            outcomes.append(Outcome(item, CHANGED))
            continue
        written = True
        outcomes.append(Outcome(item, RESTORED, revision, _apply_here(store, trust, item.user_id, ref.get(), max_templates)))
    if written:
        db.reference("/", app).update(layout.ring_update(identity.kiosk_id, random.getrandbits(31)))
    return outcomes


def _ours(value: Any, restored: dict[str, Any]) -> bool:
    return isinstance(value, dict) and all(value.get(name) == restored[name] for name in ("restoreSig", "changeId"))


def _apply_here(store: Store, trust: Trust, user_id: str, value: Any, max_templates: int) -> str:
    try:
        trust.check(user_id, value)
        remote = layout.parse_user(user_id, value, max_templates)
    except (Untrusted, RemoteRecordError) as err:
        return f"not applied here: {err}"
    report = store.apply_remote([remote])
    return report.outcomes.get(user_id, "?")

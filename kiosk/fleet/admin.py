"""The administrator's side of fleet trust, and what a kiosk fetches to join.

The administrator's folder (``facekiosk fleet init --dir DIR``), on their own machine:

    DIR/root.key           the fleet root's Ed25519 private key (JSON, mode 0600): keep offline
    DIR/root.pub           its public key, base64: every kiosk's sync.fleet_root_key
    DIR/template-keys.json {"current": "<key id>", "keys": {"<key id>": "<base64 32 bytes>"}}
                           the fleet template key(s) (mode 0600)

Database writes go through a firebase-admin app (the administrator's service account, with
no ``databaseAuthVariableOverride``: database.rules.json gives no kiosk identity the right to
write certificates, sealed keys or revocations, so only this app can).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import firebase_admin
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from firebase_admin import db

from kiosk.fleet.certs import BadStatement, Certificate, issue_certificate, issue_revocation, verify_certificate, verify_revocation
from kiosk.fleet.encoding import b64, unb64
from kiosk.fleet.errors import FleetError
from kiosk.fleet.files import read_json, write_public, write_secret
from kiosk.fleet.identity import KioskIdentity, PublicIdentity
from kiosk.fleet.sealing import seal, unseal

ROOT_KEY = "root.key"
ROOT_PUB = "root.pub"
TEMPLATE_KEYS = "template-keys.json"
_FIX = "the folder `facekiosk fleet init --dir` made"


@dataclass(frozen=True)
class AdminKeys:
    root: Ed25519PrivateKey
    template_keys: dict[str, bytes]  # key id -> 32-byte key
    current: str  # the key id new kiosks get and new templates use

    @classmethod
    def generate(cls) -> "AdminKeys":
        key_id = "k1"
        return cls(Ed25519PrivateKey.generate(), {key_id: os.urandom(32)}, key_id)

    def root_public(self) -> str:
        return b64(self.root.public_key().public_bytes_raw())

    @property
    def template_key(self) -> bytes:
        return self.template_keys[self.current]

    def save(self, folder: Path) -> None:
        write_secret(folder / ROOT_KEY, (json.dumps({"version": 1, "root": b64(self.root.private_bytes_raw())}) + "\n").encode())
        keys = {"current": self.current, "keys": {k: b64(v) for k, v in self.template_keys.items()}}
        write_secret(folder / TEMPLATE_KEYS, (json.dumps(keys, indent=2) + "\n").encode())
        write_public(folder / ROOT_PUB, (self.root_public() + "\n").encode())

    @classmethod
    def load(cls, folder: Path) -> "AdminKeys":
        root_data = read_json(folder / ROOT_KEY, "fleet root key", _FIX)
        keys_data = read_json(folder / TEMPLATE_KEYS, "fleet template keys", _FIX)
        root = Ed25519PrivateKey.from_private_bytes(unb64(root_data.get("root"), f"{folder / ROOT_KEY}: root", 32))
        raw = keys_data.get("keys")
        current = keys_data.get("current")
        if not isinstance(raw, dict) or not isinstance(current, str) or current not in raw:
            raise FleetError(f"{folder / TEMPLATE_KEYS} has no current key ({_FIX})")
        keys = {str(k): unb64(v, f"{folder / TEMPLATE_KEYS}: key {k}", 32) for k, v in raw.items()}
        return cls(root, keys, current)


def init_folder(folder: Path) -> AdminKeys:
    """Make the root key and the first template key in ``folder`` (refused if present)."""
    if (folder / ROOT_KEY).exists():
        raise FleetError(f"{folder / ROOT_KEY} exists already: this folder holds a fleet (refusing to replace its root)")
    keys = AdminKeys.generate()
    keys.save(folder)
    return keys


def _ref(app: firebase_admin.App, path: str) -> db.Reference:
    return db.reference(path, app)


def enroll_kiosk(app: firebase_admin.App, admin: AdminKeys, kiosk: PublicIdentity, now_ms: int, valid_days: int) -> dict[str, Any]:
    """Write the kiosk's certificate and every fleet template key sealed to it."""
    if not 1 <= valid_days <= 3650:
        raise FleetError("--valid-days must be 1 to 3650")
    cert = issue_certificate(admin.root, kiosk, now_ms, valid_days)
    sealed = {key_id: b64(seal(kiosk.sealing_key, kiosk.kiosk_id, key_id, key)) for key_id, key in admin.template_keys.items()}
    _ref(app, f"/kiosks/{kiosk.kiosk_id}").update({"cert": cert, "templateKeys": sealed})
    return cert


def revoke_kiosk(app: firebase_admin.App, admin: AdminKeys, kiosk_id: str, now_ms: int, reason: str) -> None:
    _ref(app, f"/revocations/{kiosk_id}").set(issue_revocation(admin.root, kiosk_id, now_ms, reason))


@dataclass(frozen=True)
class WrittenRecord:
    user_id: str
    signed_at_ms: int | None
    change_id: str
    deleted: bool
    restored_only: bool = False  # the kiosk only restored another kiosk's version (its envelope)


def records_by(app: firebase_admin.App, kiosk_id: str, since_ms: int) -> list[WrittenRecord]:
    """The current /users records that ``kiosk_id`` wrote (claims to have signed), or
    re-published with its restoration envelope, since ``since_ms``: what to review after
    revoking it. Reads the whole table."""
    users = _ref(app, "/users").get() or {}
    out = []
    for user_id, value in (users.items() if isinstance(users, dict) else ()):
        if not isinstance(value, dict):
            continue
        wrote = value.get("writer") == kiosk_id
        if not wrote and value.get("restoredBy") != kiosk_id:
            continue
        signed = value.get("signedAt" if wrote else "restoredAt")
        signed = signed if isinstance(signed, int) and not isinstance(signed, bool) else None
        if signed is not None and signed < since_ms:
            continue
        out.append(WrittenRecord(str(user_id), signed, str(value.get("changeId", "")), value.get("deleted") is True, not wrote))
    return sorted(out, key=lambda r: (r.signed_at_ms or 0, r.user_id))


@dataclass(frozen=True)
class KioskRow:
    kiosk_id: str
    certificate: Certificate | None
    problem: str  # why the certificate is unusable ("" if it is fine)
    heartbeat_ms: int | None
    revoked: bool
    quarantined: int | None
    set_aside: int | None = None  # users whose changes the server kept refusing there


def fleet_status(app: firebase_admin.App, root: Ed25519PublicKey) -> list[KioskRow]:
    kiosks = _ref(app, "/kiosks").get() or {}
    revocations = _ref(app, "/revocations").get() or {}
    rows = []
    for kiosk_id, value in sorted(kiosks.items() if isinstance(kiosks, dict) else ()):
        value = value if isinstance(value, dict) else {}
        cert: Certificate | None = None
        problem = ""
        if "cert" not in value:
            problem = "no certificate"
        else:
            try:
                cert = verify_certificate(root, kiosk_id, value["cert"])
            except BadStatement as err:
                problem = f"bad certificate: {err}"
        revoked = False
        if isinstance(revocations, dict) and kiosk_id in revocations:
            try:
                verify_revocation(root, kiosk_id, revocations[kiosk_id])
                revoked = True
            except FleetError:
                problem = (problem + "; " if problem else "") + "a revocation entry not signed by the root"
        beat = value.get("heartbeatAt")
        count = value.get("quarantined")
        aside = value.get("setAside", 0)
        rows.append(KioskRow(
            kiosk_id, cert, problem,
            beat if isinstance(beat, int) and not isinstance(beat, bool) else None,
            revoked,
            count if isinstance(count, int) and not isinstance(count, bool) else None,
            aside if isinstance(aside, int) and not isinstance(aside, bool) else None,
        ))
    return rows


@dataclass(frozen=True)
class PurgeReport:
    horizon_ms: int  # every kiosk of the fleet has read everything stamped up to this
    waiting_for: list[str]  # kiosks that lag behind the tombstones, or never reported
    purged_users: list[str]  # tombstones removed (or that would be, dry run)
    purged_ledgers: int  # /attempts ledgers removed with them


def purge_seen(
    app: firebase_admin.App, root: Ed25519PublicKey, now_ms: int, older_than_ms: int,
    margin_ms: int = 3_600_000, dry_run: bool = False,
) -> PurgeReport:
    """Remove the tombstones of /users (and the deleted accounts' /attempts ledgers) that
    every kiosk has seen: stamped more than ``margin_ms`` before the oldest ``seenAt`` of the
    kiosks with a valid, unrevoked certificate, and more than ``older_than_ms`` ago. A kiosk
    that never reported holds everything back (it may not have seen a deletion yet)."""
    rows = fleet_status(app, root)
    nodes = _ref(app, "/kiosks").get() or {}
    seen: dict[str, int | None] = {}
    for row in rows:
        if row.revoked or row.certificate is None or not row.certificate.valid_at(now_ms):
            continue  # a revoked or expired kiosk's records are refused anyway
        value = nodes.get(row.kiosk_id) if isinstance(nodes, dict) else None
        stamp = value.get("seenAt") if isinstance(value, dict) else None
        seen[row.kiosk_id] = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0 else None
    tombstones = _ref(app, "/users").order_by_child("deleted").equal_to(True).get() or {}
    candidates = {
        str(uid): v["updatedAt"] for uid, v in (tombstones.items() if isinstance(tombstones, dict) else ())
        if isinstance(v, dict) and v.get("deleted") is True and isinstance(v.get("updatedAt"), int)
        and not isinstance(v.get("updatedAt"), bool) and v["updatedAt"] <= now_ms - older_than_ms
    }
    known = [stamp for stamp in seen.values() if stamp is not None]
    horizon = min(known) if known and len(known) == len(seen) else 0
    purged = sorted(uid for uid, stamp in candidates.items() if stamp <= horizon - margin_ms)
    newest = max(candidates.values(), default=None)
    waiting = sorted(kiosk for kiosk, stamp in seen.items()
                     if newest is not None and (stamp is None or stamp - margin_ms < newest))
    ledgers = 0
    for uid in purged:
        found = _ref(app, "/attempts").order_by_key().start_at(f"{uid}:").end_at(f"{uid}:\uf8ff").get() or {}
        keys = [key for key in found if str(key).startswith(f"{uid}:")]
        ledgers += len(keys)
        if not dry_run:
            for key in keys:
                _ref(app, f"/attempts/{key}").delete()
            _ref(app, f"/users/{uid}").delete()
    return PurgeReport(horizon, waiting, purged, ledgers)


def fetch_template_key(app: firebase_admin.App, identity: KioskIdentity, key_id: str | None = None) -> tuple[str, bytes]:
    """The fleet template key sealed to this kiosk (the newest key id unless ``key_id``)."""
    sealed = _ref(app, f"/kiosks/{identity.kiosk_id}/templateKeys").get()
    if not isinstance(sealed, dict) or not sealed:
        raise FleetError(
            f"no template key is sealed to kiosk {identity.kiosk_id} yet: the administrator runs "
            "`facekiosk fleet enroll-kiosk` with this kiosk's request first"
        )
    chosen = key_id or max(sealed, key=lambda k: (len(k), k))
    if chosen not in sealed:
        raise FleetError(f"no template key {chosen} is sealed to kiosk {identity.kiosk_id}")
    return chosen, unseal(identity.sealing, identity.kiosk_id, chosen, unb64(sealed[chosen], f"template key {chosen}"))


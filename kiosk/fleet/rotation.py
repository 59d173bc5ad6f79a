"""Template key rotation (issue 13 item 6), the administrator's side and the statement the
kiosks trust.

``facekiosk fleet rotate-template-key`` makes key k(n+1), seals it to every enrolled,
unrevoked kiosk (``/kiosks/{id}/templateKeys/{key id}``, as enrollment seals k1) and
publishes the root-signed ``/fleet/templateKeys``: the current key id and each key's
fingerprint. A kiosk takes a sealed key in only if the statement vouches for its
fingerprint (anyone holding the service account can seal a key of their own to a kiosk's
public key; only the root can make it current). Each kiosk reports its progress at
``/kiosks/{id}/templateKey`` (``current``: the key it seals with, ``waiting``: its own users
whose templates are not re-sealed yet); ``fleet retire-template-key`` refuses while a kiosk
lags or any cloud template is still sealed under the key, naming who holds it back.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import firebase_admin
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from firebase_admin import db

from kiosk.durable import atomic_write
from kiosk.fleet.certs import BadStatement, _verify, verify_certificate, verify_revocation
from kiosk.fleet.encoding import b64, canonical
from kiosk.fleet.errors import FleetError
from kiosk.store.templates import blob_key_id, derive_key, key_number

STATEMENT_PATH = "/fleet/templateKeys"
STATEMENT_CONTEXT = b"facekiosk/template-keys/v1"
REPORT = "templateKey"


def fingerprint(key: bytes) -> str:
    """A public name of a template key (HKDF of it; says nothing about the key)."""
    return b64(derive_key(key, b"template-key-fingerprint-v1")[:16])


def issue_statement(root: Ed25519PrivateKey, keys: dict[str, bytes], current: str, now_ms: int) -> dict[str, Any]:
    body = {"current": current, "keys": {k: fingerprint(v) for k, v in sorted(keys.items())}, "issuedAt": now_ms}
    return {**body, "sig": b64(root.sign(canonical(STATEMENT_CONTEXT, body)))}


@dataclass(frozen=True)
class Statement:
    current: str
    fingerprints: dict[str, str]
    issued_at_ms: int


def verify_statement(root: Ed25519PublicKey, value: Any) -> Statement:
    body = _verify(root, STATEMENT_CONTEXT, value, ("current", "keys", "issuedAt"))
    keys = body["keys"]
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()) or body["current"] not in keys:
        raise BadStatement("the template key statement names no current key")
    try:
        for key_id in keys:
            key_number(str(key_id))
    except Exception:
        raise BadStatement("a template key id is not k1, k2, ...") from None
    issued = body["issuedAt"]
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise BadStatement("'issuedAt' is not a time")
    return Statement(str(body["current"]), {str(k): v for k, v in keys.items()}, issued)


def _ref(app: firebase_admin.App, path: str) -> db.Reference:
    return db.reference(path, app)


def _valid_kiosks(app: firebase_admin.App, root: Ed25519PublicKey, now_ms: int) -> dict[str, Any]:
    """The kiosks with a valid certificate that are not revoked: {id: their /kiosks node}."""
    kiosks = _ref(app, "/kiosks").get() or {}
    revocations = _ref(app, "/revocations").get() or {}
    out: dict[str, Any] = {}
    for kiosk_id, value in (kiosks.items() if isinstance(kiosks, dict) else ()):
        if not isinstance(value, dict):
            continue
        try:
            cert = verify_certificate(root, str(kiosk_id), value.get("cert"))
        except FleetError:
            continue
        if isinstance(revocations, dict) and kiosk_id in revocations:
            try:
                verify_revocation(root, str(kiosk_id), revocations[kiosk_id])
                continue
            except FleetError:
                pass
        if cert.valid_at(now_ms):
            out[str(kiosk_id)] = value
    return out


def _save_keys(folder: Path, keys: dict[str, bytes], current: str) -> None:
    from kiosk.fleet.admin import TEMPLATE_KEYS
    import json
    body = {"current": current, "keys": {k: b64(v) for k, v in keys.items()}}
    atomic_write(folder / TEMPLATE_KEYS, (json.dumps(body, indent=2) + "\n").encode(), mode=0o600)


def rotate(app: firebase_admin.App, folder: Path, now_ms: int) -> tuple[str, list[str]]:
    """Make the next key, save it in the admin folder, seal it to every valid kiosk and make
    it current. Returns the new key id and the kiosks it was sealed to."""
    import os

    from kiosk.fleet.admin import AdminKeys
    from kiosk.fleet.sealing import seal
    from kiosk.fleet.encoding import unb64

    admin = AdminKeys.load(folder)
    root = admin.root.public_key()
    new_id = f"k{max(key_number(k) for k in admin.template_keys) + 1}"
    keys = {**admin.template_keys, new_id: os.urandom(32)}
    _save_keys(folder, keys, new_id)  # first: a key sealed to kiosks is never lost
    kiosks = _valid_kiosks(app, root, now_ms)
    for kiosk_id, value in sorted(kiosks.items()):
        sealing = unb64(value["cert"]["sealingKey"], "sealingKey", 32)
        _ref(app, f"/kiosks/{kiosk_id}/templateKeys/{new_id}").set(b64(seal(sealing, kiosk_id, new_id, keys[new_id])))
    _ref(app, STATEMENT_PATH).set(issue_statement(admin.root, keys, new_id, now_ms))
    _ref(app, "/ring").set({"by": "fleet-admin", "at": {".sv": "timestamp"}, "n": int.from_bytes(os.urandom(4), "big") >> 1})
    return new_id, sorted(kiosks)


@dataclass(frozen=True)
class KeyProgress:
    kiosk_id: str
    current: str | None  # the key it seals with (None: never reported)
    waiting: int | None  # its own users not re-sealed yet


def progress(app: firebase_admin.App, root: Ed25519PublicKey, now_ms: int) -> list[KeyProgress]:
    out = []
    for kiosk_id, value in sorted(_valid_kiosks(app, root, now_ms).items()):
        report = value.get(REPORT) if isinstance(value.get(REPORT), dict) else {}
        current, waiting = report.get("current"), report.get("waiting")
        out.append(KeyProgress(kiosk_id, current if isinstance(current, str) else None,
                               waiting if isinstance(waiting, int) and not isinstance(waiting, bool) else None))
    return out


def cloud_blobs(app: firebase_admin.App, key_id: str) -> dict[str, str]:
    """The /users records holding a template sealed under ``key_id``: {user id: writer}."""
    users = _ref(app, "/users").get() or {}
    found: dict[str, str] = {}
    for user_id, value in (users.items() if isinstance(users, dict) else ()):
        if not isinstance(value, dict):
            continue
        texts = list((value.get("templates") or {}).values()) if isinstance(value.get("templates"), dict) else []
        faces = value.get("faces")
        for face in (faces.values() if isinstance(faces, dict) else ()):
            if isinstance(face, dict) and isinstance(face.get("templates"), dict):
                texts += list(face["templates"].values())
        for text in texts:
            try:
                blob = base64.b64decode(str(text), validate=True)
            except (binascii.Error, ValueError):
                continue
            if blob_key_id(blob) == key_id:
                found[str(user_id)] = str(value.get("writer", "?"))
                break
    return found


def retire(app: firebase_admin.App, folder: Path, key_id: str, now_ms: int) -> None:
    """Drop ``key_id`` from the fleet once no kiosk and no cloud template needs it; FleetError
    naming what holds it back otherwise."""
    from kiosk.fleet.admin import AdminKeys

    admin = AdminKeys.load(folder)
    if key_id not in admin.template_keys:
        raise FleetError(f"the fleet has no template key {key_id} (it holds {', '.join(sorted(admin.template_keys))})")
    if key_id == admin.current:
        raise FleetError(f"{key_id} is the current template key: run `facekiosk fleet rotate-template-key` first")
    root = admin.root.public_key()
    lagging = [f"{p.kiosk_id} ({'never reported' if p.current is None else f'seals with {p.current}, {p.waiting} user(s) to re-seal'})"
               for p in progress(app, root, now_ms) if p.current != admin.current or p.waiting != 0]
    if lagging:
        raise FleetError(f"not retiring {key_id}: kiosks not re-sealed under {admin.current} yet: {', '.join(lagging)} "
                         "(bring them online, or revoke a kiosk that is gone)")
    left = cloud_blobs(app, key_id)
    if left:
        writers = sorted(set(left.values()))
        raise FleetError(f"not retiring {key_id}: {len(left)} cloud record(s) still hold templates sealed under it, "
                         f"last written by {', '.join(writers)} (users {', '.join(sorted(left)[:5])}{' ...' if len(left) > 5 else ''})")
    keys = {k: v for k, v in admin.template_keys.items() if k != key_id}
    _ref(app, STATEMENT_PATH).set(issue_statement(admin.root, keys, admin.current, now_ms))
    kiosks = _ref(app, "/kiosks").get() or {}
    for kiosk_id in (kiosks if isinstance(kiosks, dict) else {}):
        _ref(app, f"/kiosks/{kiosk_id}/templateKeys/{key_id}").delete()
    _save_keys(folder, keys, admin.current)

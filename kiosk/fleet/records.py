"""Signed ``/users/{uid}`` records.

The writing kiosk adds ``signedAt`` (its own clock, ms) and ``sig``: its Ed25519 signature
over the canonical encoding (encoding.py) of ``{"uid": <uid>}`` plus every field of the
record except ``updatedAt`` and ``sig``. ``updatedAt`` is the server's timestamp, outside
the signature: it only orders the catch-up query (the cursor) and is never trusted for
anything else. A field added, removed or changed by anyone else breaks the signature;
the uid inside it stops a record being copied to another user.

**Restorations** (``fleet rollback``): a version a trusted kiosk signed earlier, published
again after a revoked kiosk replaced it. It keeps its writer, fields and signature as they
were (provenance: nobody re-signs another kiosk's record) and gains an envelope signed by
the restoring kiosk: ``restoredBy`` (its id), ``restoredAt`` (its clock, ms),
``restoredRevision`` (above the revision it replaces, so every kiosk takes it over the
newer forgery) and ``restoreSig`` (its Ed25519 signature over the uid and every field but
``updatedAt`` and ``restoreSig``, the original signature included). The writer's signature
covers every field but the envelope's, so adding an envelope breaks nothing, and an
envelope that does not verify makes the whole record untrusted.
"""

from __future__ import annotations

from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.fleet.encoding import b64, canonical, unb64
from kiosk.fleet.errors import FleetError
from kiosk.fleet.identity import KioskIdentity

RECORD_CONTEXT = b"facekiosk/user-record/v1"
RESTORE_CONTEXT = b"facekiosk/user-restore/v1"
RESTORE_FIELDS = frozenset({"restoredBy", "restoredAt", "restoredRevision", "restoreSig"})
UNSIGNED_FIELDS = frozenset({"updatedAt", "sig"}) | RESTORE_FIELDS


class BadSignature(FleetError):
    """A record whose signature is missing, malformed or does not verify."""


def signed_body(user_id: str, record: dict[str, Any]) -> bytes:
    body = {name: value for name, value in record.items() if name not in UNSIGNED_FIELDS}
    return canonical(RECORD_CONTEXT, {"uid": user_id, "record": body})


def sign_record(identity: KioskIdentity, user_id: str, record: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """``record`` with ``writer``, ``signedAt`` and ``sig`` set by this kiosk."""
    out = {name: value for name, value in record.items() if name not in RESTORE_FIELDS}
    out.update(writer=identity.kiosk_id, signedAt=now_ms)
    out.pop("sig", None)
    out["sig"] = b64(identity.sign(signed_body(user_id, out)))
    return out


def verify_record(key: Ed25519PublicKey, user_id: str, record: dict[str, Any]) -> None:
    """BadSignature unless ``record`` carries a valid signature by ``key``."""
    _verify(key, record, "sig", "the signature", "its writer's", lambda: signed_body(user_id, record))


def _verify(key: Ed25519PublicKey, record: dict[str, Any], field: str, what: str, whose: str,
            message: Callable[[], bytes]) -> None:
    """BadSignature unless ``record[field]`` is ``key``'s (``whose`` key) signature over ``message()``."""
    try:
        signature = unb64(record.get(field), what, 64)
    except FleetError as err:
        raise BadSignature(str(err)) from None
    try:
        body = message()
    except (TypeError, ValueError) as err:
        raise BadSignature(f"the record cannot be encoded: {err}") from None
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise BadSignature(f"{what} does not match the record and {whose} key") from None


def restore_body(user_id: str, record: dict[str, Any]) -> bytes:
    body = {name: value for name, value in record.items() if name not in ("updatedAt", "restoreSig")}
    return canonical(RESTORE_CONTEXT, {"uid": user_id, "record": body})


def restore_record(identity: KioskIdentity, user_id: str, original: dict[str, Any], revision: int, now_ms: int) -> dict[str, Any]:
    """``original`` (a signed version, kept as it is) with this kiosk's restoration envelope."""
    out = {name: value for name, value in original.items() if name not in RESTORE_FIELDS and name != "updatedAt"}
    out.update(restoredBy=identity.kiosk_id, restoredAt=now_ms, restoredRevision=revision)
    out["restoreSig"] = b64(identity.sign(restore_body(user_id, out)))
    return out


def verify_restore(key: Ed25519PublicKey, user_id: str, record: dict[str, Any]) -> None:
    """BadSignature unless the restoration envelope of ``record`` is signed by ``key``."""
    _verify(key, record, "restoreSig", "the restoration signature", "its restorer's", lambda: restore_body(user_id, record))

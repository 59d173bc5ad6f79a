"""Root-signed statements: kiosk certificates and revocations.

A certificate binds a kiosk id to its two public keys for a validity period; it lives at
``/kiosks/{id}/cert``. A revocation cuts a kiosk off; it lives at ``/revocations/{id}``.
Both are JSON objects whose ``sig`` is the root's Ed25519 signature over the canonical
encoding of every other field (see encoding.py). Times are Unix milliseconds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiosk.fleet.encoding import b64, canonical, unb64
from kiosk.fleet.errors import FleetError
from kiosk.fleet.identity import PublicIdentity

CERT_CONTEXT = b"facekiosk/kiosk-certificate/v1"
REVOCATION_CONTEXT = b"facekiosk/kiosk-revocation/v1"
DAY_MS = 86_400_000


class BadStatement(FleetError):
    """A certificate or revocation that is malformed or not signed by the root."""


@dataclass(frozen=True)
class Certificate:
    kiosk_id: str
    signing_key: bytes  # Ed25519 public, raw
    sealing_key: bytes  # X25519 public, raw
    not_before_ms: int
    not_after_ms: int
    serial: str

    def body(self) -> dict[str, Any]:
        return {
            "kiosk": self.kiosk_id,
            "signingKey": b64(self.signing_key),
            "sealingKey": b64(self.sealing_key),
            "notBefore": self.not_before_ms,
            "notAfter": self.not_after_ms,
            "serial": self.serial,
        }

    def valid_at(self, ms: int) -> bool:
        return self.not_before_ms <= ms <= self.not_after_ms

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.signing_key)


@dataclass(frozen=True)
class Revocation:
    kiosk_id: str
    revoked_at_ms: int
    reason: str

    def body(self) -> dict[str, Any]:
        return {"kiosk": self.kiosk_id, "revokedAt": self.revoked_at_ms, "reason": self.reason}


def issue_certificate(root: Ed25519PrivateKey, kiosk: PublicIdentity, now_ms: int, valid_days: int) -> dict[str, Any]:
    """The signed certificate JSON of ``kiosk``, valid from now for ``valid_days`` days."""
    cert = Certificate(kiosk.kiosk_id, kiosk.signing_key, kiosk.sealing_key, now_ms, now_ms + valid_days * DAY_MS, secrets.token_hex(8))
    body = cert.body()
    return {**body, "sig": b64(root.sign(canonical(CERT_CONTEXT, body)))}


def issue_revocation(root: Ed25519PrivateKey, kiosk_id: str, now_ms: int, reason: str) -> dict[str, Any]:
    body = Revocation(kiosk_id, now_ms, reason).body()
    return {**body, "sig": b64(root.sign(canonical(REVOCATION_CONTEXT, body)))}


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
        raise BadStatement(f"'{name}' is not a time in milliseconds")
    return value


def _verify(root: Ed25519PublicKey, context: bytes, value: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(fields) | {"sig"}:
        raise BadStatement(f"not an object with exactly the fields {', '.join(fields)}, sig")
    body = {name: value[name] for name in fields}
    try:
        signature = unb64(value["sig"], "signature", 64)
        root.verify(signature, canonical(context, body))
    except (FleetError, TypeError, ValueError):
        raise BadStatement("the signature is malformed") from None
    except InvalidSignature:
        raise BadStatement("not signed by the fleet root key") from None
    return body


def verify_certificate(root: Ed25519PublicKey, kiosk_id: str, value: Any) -> Certificate:
    """The certificate at /kiosks/{kiosk_id}/cert, checked; BadStatement if it is not one."""
    body = _verify(root, CERT_CONTEXT, value, ("kiosk", "signingKey", "sealingKey", "notBefore", "notAfter", "serial"))
    if body["kiosk"] != kiosk_id:
        raise BadStatement(f"the certificate names kiosk {body['kiosk']!r}")
    if not isinstance(body["serial"], str):
        raise BadStatement("'serial' is not text")
    return Certificate(
        kiosk_id,
        unb64(body["signingKey"], "signingKey", 32),
        unb64(body["sealingKey"], "sealingKey", 32),
        _int(body["notBefore"], "notBefore"),
        _int(body["notAfter"], "notAfter"),
        body["serial"],
    )


def verify_revocation(root: Ed25519PublicKey, kiosk_id: str, value: Any) -> Revocation:
    body = _verify(root, REVOCATION_CONTEXT, value, ("kiosk", "revokedAt", "reason"))
    if body["kiosk"] != kiosk_id or not isinstance(body["reason"], str):
        raise BadStatement("the revocation names another kiosk or has no reason text")
    return Revocation(kiosk_id, _int(body["revokedAt"], "revokedAt"), body["reason"])


def root_public_key(text: str) -> Ed25519PublicKey:
    """The fleet root public key from its base64 text (``sync.fleet_root_key``)."""
    if not text:
        raise FleetError("sync.fleet_root_key is empty: paste the line `facekiosk fleet init` printed (root.pub)")
    try:
        return Ed25519PublicKey.from_public_bytes(unb64(text, "sync.fleet_root_key", 32))
    except FleetError as err:
        raise FleetError(f"{err}: paste the line 'fleet init' printed (root.pub)") from None

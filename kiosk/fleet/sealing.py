"""A template key sealed to one kiosk: ephemeral X25519 agreement with the kiosk's sealing
key, HKDF-SHA256 to an AES-256-GCM key, the kiosk id and key id as associated data.

Sealed form (base64 in ``/kiosks/{id}/templateKeys/{key id}``):
``ephemeral public key (32) | nonce (12) | AES-GCM(template key) | tag (16)``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.fleet.errors import FleetError

_INFO = b"facekiosk/sealed-template-key/v1"


def _aad(kiosk_id: str, key_id: str) -> bytes:
    return _INFO + b"\0" + kiosk_id.encode("utf-8") + b"\0" + key_id.encode("utf-8")


def _wrapping_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def seal(recipient: bytes, kiosk_id: str, key_id: str, key: bytes) -> bytes:
    """``key`` sealed to the X25519 public key ``recipient`` (raw 32 bytes)."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    wrapping = _wrapping_key(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), ephemeral_public, recipient)
    nonce = os.urandom(12)
    return ephemeral_public + nonce + AESGCM(wrapping).encrypt(nonce, key, _aad(kiosk_id, key_id))


def unseal(sealing: X25519PrivateKey, kiosk_id: str, key_id: str, sealed: bytes) -> bytes:
    """The key sealed to this kiosk; FleetError if it was sealed to another or altered."""
    if len(sealed) < 32 + 12 + 16:
        raise FleetError(f"the sealed template key {key_id} is truncated")
    ephemeral_public, nonce, body = sealed[:32], sealed[32:44], sealed[44:]
    recipient = sealing.public_key().public_bytes_raw()
    try:
        wrapping = _wrapping_key(sealing.exchange(X25519PublicKey.from_public_bytes(ephemeral_public)), ephemeral_public, recipient)
        return AESGCM(wrapping).decrypt(nonce, body, _aad(kiosk_id, key_id))
    except (InvalidTag, ValueError):
        raise FleetError(
            f"the template key {key_id} in the database was not sealed to this kiosk's identity: "
            "enroll this kiosk again (facekiosk fleet enroll-kiosk)"
        ) from None

"""A kiosk's own keys: Ed25519 to sign the records it writes, X25519 to receive the fleet
template key sealed to it (see sealing.py). Kept in one JSON file, mode 0600:

    {"version": 1, "kiosk": "<kiosk id>", "signing": "<base64 raw 32 bytes>",
     "sealing": "<base64 raw 32 bytes>"}

Where: the systemd credential ``kiosk-identity`` ($CREDENTIALS_DIRECTORY) if present, else
``sync.identity_file`` (relative to the config file). Made at first start (or by
``facekiosk fleet request``) when the file does not exist yet.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from kiosk.config.sync import SyncSettings
from kiosk.fleet.encoding import b64, unb64
from kiosk.fleet.errors import FleetError
from kiosk.fleet.files import read_json, write_secret

IDENTITY_CREDENTIAL = "kiosk-identity"
NO_CREDENTIAL = b"none"  # what the unit's SetCredential= gives when the file is absent
_FIX = "make it with: facekiosk fleet request"


@dataclass(frozen=True)
class PublicIdentity:
    """What a kiosk sends the administrator to be enrolled (nothing secret)."""

    kiosk_id: str
    signing_key: bytes  # Ed25519 public, raw 32 bytes
    sealing_key: bytes  # X25519 public, raw 32 bytes

    def to_json(self) -> dict[str, Any]:
        return {"kiosk": self.kiosk_id, "signingKey": b64(self.signing_key), "sealingKey": b64(self.sealing_key)}

    @classmethod
    def from_json(cls, data: Any) -> "PublicIdentity":
        if not isinstance(data, dict) or not isinstance(data.get("kiosk"), str) or not data["kiosk"]:
            raise FleetError("the kiosk request is not an object with 'kiosk', 'signingKey' and 'sealingKey'")
        return cls(data["kiosk"], unb64(data.get("signingKey"), "signingKey", 32), unb64(data.get("sealingKey"), "sealingKey", 32))


@dataclass(frozen=True)
class KioskIdentity:
    kiosk_id: str
    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey

    @classmethod
    def generate(cls, kiosk_id: str) -> "KioskIdentity":
        return cls(kiosk_id, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    def public(self) -> PublicIdentity:
        return PublicIdentity(
            self.kiosk_id,
            self.signing.public_key().public_bytes_raw(),
            self.sealing.public_key().public_bytes_raw(),
        )

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message)

    def to_bytes(self) -> bytes:
        data = {
            "version": 1,
            "kiosk": self.kiosk_id,
            "signing": b64(self.signing.private_bytes_raw()),
            "sealing": b64(self.sealing.private_bytes_raw()),
        }
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_file(cls, path: Path) -> "KioskIdentity":
        data = read_json(path, "kiosk identity", _FIX)
        kiosk_id = data.get("kiosk")
        if data.get("version") != 1 or not isinstance(kiosk_id, str) or not kiosk_id:
            raise FleetError(f"kiosk identity {path} is not a version 1 identity with a kiosk id ({_FIX})")
        try:
            signing = Ed25519PrivateKey.from_private_bytes(unb64(data.get("signing"), "signing key", 32))
            sealing = X25519PrivateKey.from_private_bytes(unb64(data.get("sealing"), "sealing key", 32))
        except FleetError as err:
            raise FleetError(f"kiosk identity {path}: {err} ({_FIX})") from None
        return cls(kiosk_id, signing, sealing)


def identity_path(sync: SyncSettings, resolve: Callable[[str], Path], environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Where the identity is read from, and whether it is a systemd credential (read-only)."""
    environ = os.environ if environ is None else environ
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        candidate = Path(cred_dir) / IDENTITY_CREDENTIAL
        try:
            if candidate.exists() and candidate.read_bytes().strip() != NO_CREDENTIAL:
                return candidate, True
        except OSError:
            return candidate, True
    return resolve(sync.identity_file), False


def load_identity(
    sync: SyncSettings,
    kiosk_id: str,
    resolve: Callable[[str], Path],
    environ: Mapping[str, str] | None = None,
    create: bool = True,
) -> tuple[KioskIdentity, Path, bool]:
    """This kiosk's identity (made and saved with mode 0600 if missing and ``create``);
    returns it, its file and whether it was made now. FleetError (one line) if the file is
    unusable or names another kiosk."""
    path, credential = identity_path(sync, resolve, environ)
    created = False
    if not path.exists() and create and not credential:
        write_secret(path, KioskIdentity.generate(kiosk_id).to_bytes())
        created = True
    identity = KioskIdentity.from_file(path)
    if identity.kiosk_id != kiosk_id:
        raise FleetError(
            f"kiosk identity {path} belongs to kiosk {identity.kiosk_id!r}, not {kiosk_id!r} "
            "(sync.kiosk_id): set sync.kiosk_id to it, or move the file away and enroll this kiosk again"
        )
    if not credential:
        try:
            mode = path.stat().st_mode & 0o077
        except OSError:
            mode = 0
        if mode:
            raise FleetError(f"kiosk identity {path} is readable by others: chmod 600 {path}")
    return identity, path, created

"""Whether a pulled record may be applied: its signature must chain to the fleet root.

A record is trusted when its ``writer`` has a certificate at ``/kiosks/{writer}/cert``
signed by the root, the record's ``signedAt`` lies within that certificate's validity, the
writer is not revoked (``/revocations/{writer}``, root-signed), and the record's signature
verifies with the certificate's key. Anything else is an ``Untrusted`` with the reason.

Certificates are fetched when a writer is first seen and kept until ``refresh`` (each
catch-up), which also reloads the revocations: a revocation takes effect within one
catch-up. A revocation entry that is not root-signed is ignored (it would let anyone cut
a kiosk off) and reported by ``refresh``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kiosk.fleet.certs import BadStatement, Certificate, Revocation, verify_certificate, verify_revocation
from kiosk.fleet.errors import FleetError
from kiosk.fleet.records import RESTORE_FIELDS, BadSignature, verify_record, verify_restore

_KIOSK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


class Untrusted(FleetError):
    """A record that must not be applied; ``writer`` is who it claims wrote it ("?" if none)."""

    def __init__(self, reason: str, writer: str) -> None:
        super().__init__(reason)
        self.writer = writer


@dataclass
class Trust:
    root: Ed25519PublicKey
    fetch_certificate: Callable[[str], Any]  # kiosk id -> the raw value at /kiosks/{id}/cert
    fetch_revocations: Callable[[], Any]  # -> the raw value at /revocations
    certificates: dict[str, Certificate | str] = field(default_factory=dict)  # a str is why not
    revocations: dict[str, Revocation] = field(default_factory=dict)

    def refresh(self) -> list[str]:
        """Forget cached certificates and reload revocations; the problems found (bad entries)."""
        self.certificates.clear()
        problems: list[str] = []
        raw = self.fetch_revocations()
        revocations: dict[str, Revocation] = {}
        for kiosk_id, value in (raw.items() if isinstance(raw, dict) else ()):
            try:
                revocations[kiosk_id] = verify_revocation(self.root, kiosk_id, value)
            except FleetError as err:
                problems.append(f"ignored the revocation of kiosk {kiosk_id!r}: {err}")
        self.revocations = revocations
        return problems

    def certificate(self, kiosk_id: str) -> Certificate:
        cached = self.certificates.get(kiosk_id)
        if cached is None:
            try:
                value = self.fetch_certificate(kiosk_id)
                cached = "it has no certificate" if value is None else verify_certificate(self.root, kiosk_id, value)
            except BadStatement as err:
                cached = f"its certificate is invalid: {err}"
            self.certificates[kiosk_id] = cached
        if isinstance(cached, str):
            raise Untrusted(f"kiosk {kiosk_id} is not trusted: {cached}", kiosk_id)
        return cached

    def check(self, user_id: str, record: Any) -> str:
        """The writer of a trusted record; Untrusted with the reason otherwise."""
        if not isinstance(record, dict):
            raise Untrusted("the record is not an object", "?")
        writer = record.get("writer")
        if not isinstance(writer, str) or not _KIOSK_ID.match(writer):
            raise Untrusted("the record names no valid writer", "?")
        revoked = self.revocations.get(writer)
        if revoked is not None:
            raise Untrusted(f"kiosk {writer} is revoked ({revoked.reason or 'no reason given'})", writer)
        cert = self.certificate(writer)
        signed_at = record.get("signedAt")
        if not isinstance(signed_at, int) or isinstance(signed_at, bool):
            raise Untrusted("the record has no signing time", writer)
        if not cert.valid_at(signed_at):
            raise Untrusted(f"signed at {signed_at}, outside kiosk {writer}'s certificate validity", writer)
        try:
            verify_record(cert.public_key(), user_id, record)
        except BadSignature as err:
            raise Untrusted(str(err), writer) from None
        if RESTORE_FIELDS & set(record):
            self._check_restoration(user_id, record, writer)
        return writer

    def _check_restoration(self, user_id: str, record: dict[str, Any], writer: str) -> None:
        """A restored version (kiosk/fleet/records.py): its envelope must be whole and signed
        by a trusted, unrevoked kiosk within its certificate's validity."""
        if not RESTORE_FIELDS <= set(record):
            raise Untrusted("the record has part of a restoration envelope", writer)
        restorer = record.get("restoredBy")
        if not isinstance(restorer, str) or not _KIOSK_ID.match(restorer):
            raise Untrusted("the restoration names no valid kiosk", writer)
        revoked = self.revocations.get(restorer)
        if revoked is not None:
            raise Untrusted(f"restored by kiosk {restorer}, which is revoked ({revoked.reason or 'no reason given'})", writer)
        cert = self.certificate(restorer)
        restored_at = record.get("restoredAt")
        if not isinstance(restored_at, int) or isinstance(restored_at, bool) or not cert.valid_at(restored_at):
            raise Untrusted(f"restored at {restored_at!r}, outside kiosk {restorer}'s certificate validity", writer)
        revision, original = record.get("restoredRevision"), record.get("revision", 1)
        if (not isinstance(revision, int) or isinstance(revision, bool) or not isinstance(original, int)
                or revision <= original):
            raise Untrusted("the restoration's revision is not above the restored version's", writer)
        try:
            verify_restore(cert.public_key(), user_id, record)
        except BadSignature as err:
            raise Untrusted(str(err), writer) from None

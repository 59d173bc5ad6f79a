"""The fields a user record gained for consent, email confirmation, the emails' language
and restorations are
validated like the others when pulled (kiosk/sync/layout.py): type, size, format; a
tombstone holds none of them; a restored version's revision is its restoredRevision."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kiosk.store.replica import RemoteRecordError
from kiosk.sync.layout import parse_user

UID = str(uuid.uuid4())
CODE = "k1:" + "ab" * 32


def record(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"deleted": False, "updatedAt": 5, "createdAt": 1, "origin": "o", "writer": "a", "changeId": "a:1",
                            "revision": 2, "email": "ann@example.org", "passwordHash": "$argon2id$x", "signedAt": 1, "sig": "s"}
    return {**base, **extra}


def test_consent_confirmation_and_code_are_read() -> None:
    user = parse_user(UID, record(consentVersion="2026-11-1", consentAt=7, confirmCode=CODE, confirmCodeUntil=9))
    assert (user.consent_version, user.consent_at_ms, user.confirm_code, user.confirm_code_until_ms) == ("2026-11-1", 7, CODE, 9)
    assert user.confirmed_at_ms is None
    assert parse_user(UID, record(confirmedAt=8)).confirmed_at_ms == 8
    assert parse_user(UID, record()).consent_version is None


def test_the_emails_language_is_read_and_kept_when_this_kiosk_has_no_texts_for_it() -> None:
    assert parse_user(UID, record(language="de")).language == "de"
    assert parse_user(UID, record(language="pt_BR")).language == "pt_BR"  # a later release's: kept, not quarantined
    assert parse_user(UID, record()).language is None


@pytest.mark.parametrize("extra, fragment", [
    ({"consentVersion": "v" * 65, "consentAt": 1}, "consentVersion"),
    ({"consentVersion": 3, "consentAt": 1}, "consentVersion"),
    ({"consentVersion": "v1"}, "consentAt"),
    ({"consentAt": 1}, "consentVersion"),
    ({"consentVersion": "v1", "consentAt": 2**53}, "consentAt"),
    ({"confirmedAt": "yesterday"}, "confirmedAt"),
    ({"confirmedAt": True}, "confirmedAt"),
    ({"confirmedAt": 1, "confirmCode": CODE, "confirmCodeUntil": 2}, "still waiting"),
    ({"confirmCode": "123456", "confirmCodeUntil": 2}, "64 hex"),
    ({"confirmCode": "k1:" + "AB" * 32, "confirmCodeUntil": 2}, "64 hex"),
    ({"confirmCode": CODE}, "confirmCodeUntil"),
    ({"confirmCodeUntil": 2}, "confirmCode"),
    ({"language": ""}, "language"),
    ({"language": 7}, "language"),
    ({"language": ["de"]}, "language"),
    ({"language": "DE"}, "language code"),
    ({"language": "de-DE"}, "language code"),
    ({"language": "../de"}, "language code"),
    ({"language": "de\n"}, "language code"),
    ({"language": "deutsch"}, "longer than 6"),
    ({"language": "d" * 5000}, "longer than 6"),
    ({"restoredRevision": 2, "restoredBy": "c", "restoredAt": 1, "restoreSig": "s"}, "restoredRevision"),
    ({"restoredRevision": 3, "restoredAt": 1, "restoreSig": "s"}, "restoredBy"),
    ({"restoredRevision": 3, "restoredBy": "c", "restoreSig": "s"}, "restoredAt"),
    ({"restoredBy": "c", "restoredAt": 1, "restoreSig": "s"}, "restoredRevision"),
])
def test_malformed_fields_are_refused(extra: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RemoteRecordError, match=fragment):
        parse_user(UID, record(**extra))


def test_a_tombstone_carries_no_consent_or_confirmation() -> None:
    tombstone = {k: v for k, v in record().items() if k not in ("email", "passwordHash")}
    tombstone["deleted"] = True
    assert parse_user(UID, tombstone).deleted
    for extra in ({"consentVersion": "v1", "consentAt": 1}, {"confirmedAt": 1}, {"confirmCode": CODE, "confirmCodeUntil": 1},
                  {"language": "de"}):
        with pytest.raises(RemoteRecordError, match="tombstone"):
            parse_user(UID, {**tombstone, **extra})


def test_a_restored_version_takes_its_restoration_revision() -> None:
    user = parse_user(UID, record(restoredRevision=9, restoredBy="c", restoredAt=1, restoreSig="s"))
    assert user.revision == 9 and user.change_id == "a:1" and user.writer == "a"

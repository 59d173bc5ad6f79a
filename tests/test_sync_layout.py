"""The RTDB data layout: email keys, user records, and what the parser refuses."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from firebase_admin import db
from hypothesis import given, settings as hsettings, strategies as hs

from kiosk.config.sync import SyncSettings
from kiosk.errors import ValidationError
from kiosk.store.emails import normalize_email
from kiosk.store.replica import PushItem, RemoteRecordError
from kiosk.sync import layout
from kiosk.sync.firebase import open_app
from rtdb_server import RtdbServer
from sync_support import DATABASE_URL, RULES

EMAILS = [
    "ann@example.org",
    "Ann.Lee+kiosk@Example.ORG",
    "o'neil#$/%&*=?^_`{|}~-x@example.org",
    "ünïcode.ß@Bücher.de",
    "a..b@x.org".replace("..", "."),
    "percent%2E@x.org",
    "x+y+z@sub.domain.example.com",
]
FORBIDDEN = set(".$#[]/") | {chr(c) for c in range(32)} | {"\x7f"}


@pytest.mark.parametrize("raw", EMAILS)
def test_email_key_encoding_is_reversible_and_allowed_as_a_key(raw: str) -> None:
    key = normalize_email(raw).key
    encoded = layout.encode_email_key(key)
    assert layout.decode_email_key(encoded) == key
    assert not FORBIDDEN & set(encoded)
    assert not set("%+? ") & set(encoded)  # nothing a URL path could mangle
    assert len(encoded.encode("utf-8")) <= 768


@hsettings(max_examples=300, deadline=None)
@given(hs.text(alphabet=hs.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_encoding_of_any_valid_email_is_reversible_and_injective(local: str) -> None:
    try:
        key = normalize_email(f"{local}@example.org").key
    except ValidationError:
        return
    encoded = layout.encode_email_key(key)
    assert layout.decode_email_key(encoded) == key
    assert not FORBIDDEN & set(encoded)
    # Injective: a different key never encodes the same (decode is its inverse).
    assert layout.encode_email_key(key + "x") != encoded


def test_longest_email_fits_rtdb_key_limit() -> None:
    local = "ü" * 32  # 64 bytes of UTF-8, each byte escaped as three characters
    domain = ".".join(["a" * 63, "b" * 63, "c" * 61])  # 64 + 1 + 189 = 254 bytes in all
    key = normalize_email(f"{local}@{domain}").key
    assert len(layout.encode_email_key(key).encode()) <= 768


def test_encoded_keys_survive_the_sdk_and_the_server(tmp_path: Path, monkeypatch) -> None:
    """Written and read back through the real SDK and URL handling, keys stay the same."""
    with RtdbServer(rules_path=RULES) as server:
        monkeypatch.setenv("FIREBASE_DATABASE_EMULATOR_HOST", server.emulator_host)
        sync = SyncSettings(enabled=True, database_url=DATABASE_URL)
        app = open_app(sync, lambda p: tmp_path / p, as_admin=True)  # the keys, not the rules
        try:
            keys = [normalize_email(raw).key for raw in EMAILS]
            for i, key in enumerate(keys):
                db.reference(layout.email_index_path(key), app).set(f"uid-{i}")
            stored = server.get_data("/emailIndex")
            assert {layout.decode_email_key(k): v for k, v in stored.items()} == {k: f"uid-{i}" for i, k in enumerate(keys)}
            for i, key in enumerate(keys):
                assert db.reference(layout.email_index_path(key), app).get() == f"uid-{i}"
        finally:
            import firebase_admin

            firebase_admin.delete_app(app)


def _item(deleted: bool = False) -> PushItem:
    return PushItem(
        user_id=str(uuid.uuid4()),
        upto_seq=7,
        kinds=("enroll",),
        revision=2,
        deleted=deleted,
        email=None if deleted else "Ann@example.org",
        email_key=None if deleted else "ann@example.org",
        released_emails=(),
        lost_to=None,
        password_hash=None if deleted else "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
        faces=() if deleted else (("m@1", ((str(uuid.uuid4()), b"\x01" + bytes(40)),)),),
        origin_kiosk="origin-db",
        created_at=1_700_000_000.5,
        remote_change="other:3",
    )


def test_user_record_round_trip() -> None:
    item = _item()
    record = layout.user_record(item, "me:7", "kiosk-a")
    assert record["updatedAt"] == {".sv": "timestamp"}
    assert record["templates"] == {tid: base64.b64encode(blob).decode() for tid, blob in item.templates}
    record["updatedAt"] = 1_700_000_001_000
    parsed = layout.parse_user(item.user_id, record)
    assert (parsed.email, parsed.password_hash, parsed.model_id, parsed.templates) == (
        item.email, item.password_hash, item.model_id, item.templates)
    assert (parsed.change_id, parsed.writer, parsed.base, parsed.revision, parsed.deleted) == ("me:7", "kiosk-a", "other:3", 2, False)
    assert parsed.created_at == pytest.approx(item.created_at, abs=1e-3)


def test_tombstone_record_carries_no_personal_data() -> None:
    item = _item(deleted=True)
    record = layout.user_record(item, "me:8", "kiosk-a")
    assert record["deleted"] is True
    assert not {"email", "passwordHash", "templates", "model"} & set(record)
    record["updatedAt"] = 5
    assert layout.parse_user(item.user_id, record).deleted


@pytest.mark.parametrize(
    "change",
    [
        {"updatedAt": None},
        {"updatedAt": {".sv": "timestamp"}},
        {"deleted": "no"},
        {"changeId": None},
        {"templates": {"t": "not base64!"}},
        {"templates": []},
        {"email": 5},
    ],
)
def test_malformed_records_are_refused(change: dict) -> None:
    item = _item()
    record = {**layout.user_record(item, "me:7", "kiosk-a"), "updatedAt": 1}
    for key, value in change.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    with pytest.raises(RemoteRecordError):
        layout.parse_user(item.user_id, record)


def test_non_uuid_user_keys_are_refused() -> None:
    record = {**layout.user_record(_item(), "me:7", "kiosk-a"), "updatedAt": 1}
    with pytest.raises(RemoteRecordError, match="not a user id"):
        layout.parse_user("../admin", record)
    with pytest.raises(RemoteRecordError, match="not a user id"):
        layout.parse_user(str(uuid.uuid4()).upper(), record)

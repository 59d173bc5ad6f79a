"""The data layout in the Realtime Database, and its encoding.

::

    /users/{uid}                     one per user, never removed (a deletion leaves a tombstone)
        email          "Ann@example.org"   as stored locally (see kiosk/store/emails.py)
        passwordHash   "$argon2id$v=19$..."
        model          "dlib_resnet_v1/fp32@<sha256 prefix>"   the model that made the templates
        templates      {"<template uuid>": "<base64>"}   each the store's sealed blob:
                       0x01 | 12-byte nonce | AES-256-GCM(little-endian float32 vector) | tag,
                       key = the fleet template key, associated data binds user id + model id
        faces          instead of model + templates when the person has templates of several
                       models: {"<encoded model id>": {"model": "<model id>",
                       "templates": {"<template uuid>": "<base64>"}}} (the key is the model id
                       encoded as email keys are, since RTDB keys cannot hold "/" or ".").
                       A kiosk keeps the templates of a model it does not run (so a fleet can
                       move to a new model kiosk by kiosk) and checks the length of those of
                       the models it runs. One model is still written as model + templates,
                       which kiosks of the previous release read.
        deleted        false | true   (a tombstone keeps only the bookkeeping fields below)
        updatedAt      server timestamp (ms) of this version  {".sv": "timestamp"}; indexed
        createdAt      enrollment time (ms, the enrolling kiosk's clock)
        origin         id of the database that enrolled the user
        writer         kiosk id that wrote this version
        changeId       "<writer's database id>:<outbox seq>": identifies the write, so a write
                       whose answer was lost is recognised when it is found already applied
        base           changeId of the version the writer had seen (absent: none)
        revision       grows with every version of the user (a writer that replaces a
                       concurrent version goes above it), so an old version written again
                       (a replay) is recognised and ignored
        consentVersion the version of the consent text the person agreed to at sign-up
        consentAt      when (ms, the enrolling kiosk's clock)
        confirmedAt    when the email was confirmed with its emailed code (ms, the clock of
                       the kiosk where the code was typed); absent: not confirmed
        confirmCode    while unconfirmed, the code sent to the address as its keyed hash
                       "<template key id>:<HMAC-SHA256 hex>" (the key derived from that
                       fleet template key; never the code), so it can be typed at any kiosk
        confirmCodeUntil  its expiry (ms)
        language       the language the screen showed at sign-up ("de"): every kiosk writes
                       the account's emails in it (absent: that kiosk's ui.language). A code
                       of 2-3 lower-case letters, optionally _ and a 2-letter region; a kiosk
                       keeps one it has no texts for (a later release's) and writes in its
                       ui.language then, so a mixed fleet never quarantines the record
        signedAt       the writer's clock (ms) when it signed; within its certificate's validity
        sig            the writer's Ed25519 signature over {"uid", every field but updatedAt,
                       sig and the restoration envelope} (kiosk/fleet/records.py); unsigned
                       or untrusted: quarantined
        restoredBy, restoredAt, restoredRevision, restoreSig
                       only on a version re-published by `fleet rollback`: the restoring
                       kiosk's envelope around a version another kiosk signed earlier (kept
                       as it was); restoredRevision replaces revision
    /emailIndex/{encoded email key}  the uid that owns the email (conditional writes only)
    /ring                            the fleet's doorbell, the only node kiosks listen to:
        by, at, n      the kiosk that rang, the server's time, a random number (two rings in
                       one millisecond still differ, so each is delivered)
    /kiosks/{kiosk id}                 written by that kiosk, read by ``fleet status``; nobody listens
        changedAt      server timestamp: rung after this kiosk pushed changes (with /ring; the
                       doorbell of the previous release, which listened to all of /kiosks)
        heartbeatAt    server timestamp: written and read back every sync.heartbeat_s (at
                       most), which is also how the kiosk learns the server's time
        seenAt         how far its catch-up got (server time, ms), with the heartbeat:
                       `fleet purge` removes tombstones once every kiosk is past them
        setAside       how many users' changes it set aside (the server kept refusing them)
        quarantined    how many cloud records this kiosk refused (with each heartbeat)
        cert           the kiosk's certificate, signed by the fleet root (kiosk/fleet/certs.py)
        templateKeys   {key id: the fleet template key sealed to this kiosk} (fleet/sealing.py)
    /attempts/{uid}:{kiosk id}       that kiosk's ledger of failed attempts on the account
        uid, events    "f<ms>,p<ms>,c<ms>,F<ms>,..." (kiosk/store/limits.py: face/password
                       failures, wrong confirmation codes, face/password successes, unlock,
                       a new code sent) on fleet time; only what still counts
        updatedAt, writer, signedAt, sig   as a user record, the signature over
                       "attempts/<uid>" so it never passes for a user record
    /revocations/{kiosk id}           root-signed: this kiosk's records are refused

Kiosks listen to ``/ring`` only: a ring from another kiosk makes them run the catch-up
query on ``/users`` (``orderBy="updatedAt"&startAt=...``) after a random delay of up to
``sync.ring_jitter_s``, so one change does not make the whole fleet query at one moment.
Heartbeats go to ``/kiosks/{id}`` where nobody listens: a kiosk's stream carries rings
(changes) only, never the other kiosks' heartbeats, so what it receives does not grow with
the fleet. The stream is proven alive by the protocol's keep-alive events and by this
kiosk's own rings coming back (kiosk/sync/remote.py). Listening to ``/users`` itself would
stream the whole table to every kiosk at each (re)connection through the SDK's
byte-at-a-time SSE parser (about 3 s per MB measured here: a minute and more for 10,000
users), so the stream is a doorbell and the data always comes through paged REST reads.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any, Mapping

from kiosk.store.replica import Faces, PushItem, RemoteRecordError, RemoteUser, Sealed

USERS = "users"
EMAIL_INDEX = "emailIndex"
KIOSKS = "kiosks"
REVOCATIONS = "revocations"
CLOCKS = "clocks"
ATTEMPTS = "attempts"
RING = "ring"
SERVER_TIMESTAMP = {".sv": "timestamp"}

# Characters kept as they are in an encoded email key; "." becomes ","; every other byte of
# the UTF-8 form becomes ":" and two hex digits. Neither "," nor ":" can occur in an email
# key (kiosk.store.emails refuses them), so the encoding is reversible, and the result holds
# nothing RTDB forbids in keys (. $ # [ ] / and controls) nor anything a URL path could
# mangle (% + ? and spaces). The longest key (254 bytes) encodes to at most 762 bytes, under
# RTDB's 768-byte key limit.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@")


def encode_email_key(email_key: str) -> str:
    out: list[str] = []
    for char in email_key:
        if char in _PLAIN:
            out.append(char)
        elif char == ".":
            out.append(",")
        else:
            out.extend(f":{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def decode_email_key(encoded: str) -> str:
    data = bytearray()
    i = 0
    while i < len(encoded):
        char = encoded[i]
        if char == ":":
            data.append(int(encoded[i + 1 : i + 3], 16))
            i += 3
            continue
        data.extend(b"." if char == "," else char.encode("utf-8"))
        i += 1
    return data.decode("utf-8")


def encode_model_key(model_id: str) -> str:
    """A model id as an RTDB key (the email-key encoding: "/" and "." are not allowed)."""
    return encode_email_key(model_id)


def attempts_path(user_id: str, kiosk_id: str) -> str:
    return f"/{ATTEMPTS}/{user_id}:{kiosk_id}"


def ledger_subject(user_id: str) -> str:
    """What a ledger's signature binds (never a user id, so never a user record's)."""
    return f"{ATTEMPTS}/{user_id}"


def ledger_record(user_id: str, events: str) -> dict[str, Any]:
    return {"uid": user_id, "events": events, "updatedAt": SERVER_TIMESTAMP}


LEDGER_FIELDS = frozenset({"uid", "events", "updatedAt", "writer", "signedAt", "sig"})


def parse_ledger(key: Any, value: Any) -> tuple[str, str, Any]:
    """(user id, kiosk id, the events text) of an /attempts entry; RemoteRecordError if not one."""
    if not isinstance(key, str) or key.count(":") != 1:
        raise RemoteRecordError(f"attempts {str(key)[:80]!r}: the key is not <user id>:<kiosk id>")
    user_id, kiosk_id = key.split(":")
    try:
        canonical = str(uuid.UUID(user_id)) == user_id
    except ValueError:
        canonical = False
    if not canonical or not isinstance(value, dict) or set(value) - LEDGER_FIELDS:
        raise RemoteRecordError(f"attempts {key[:80]!r}: not a ledger")
    if value.get("uid") != user_id or value.get("writer") != kiosk_id:
        raise RemoteRecordError(f"attempts {key[:80]!r}: filed under another account or kiosk")
    return user_id, kiosk_id, value.get("events")


def user_path(user_id: str) -> str:
    return f"/{USERS}/{user_id}"


def email_index_path(email_key: str) -> str:
    return f"/{EMAIL_INDEX}/{encode_email_key(email_key)}"


def kiosk_path(kiosk_id: str) -> str:
    return f"/{KIOSKS}/{kiosk_id}"


def ring_update(kiosk_id: str, nonce: int) -> dict[str, Any]:
    """One multi-path write (at the root) that rings: /ring, and the previous release's
    doorbell /kiosks/{id}/changedAt."""
    return {
        RING: {"by": kiosk_id, "at": SERVER_TIMESTAMP, "n": nonce},
        f"{KIOSKS}/{kiosk_id}/changedAt": SERVER_TIMESTAMP,
    }


def ring_writer(data: Any) -> str | None:
    """The kiosk that rang, from a /ring event's data (None: unknown, treat as a change)."""
    by = data.get("by") if isinstance(data, dict) else None
    return by if isinstance(by, str) else None


def certificate_path(kiosk_id: str) -> str:
    return f"/{KIOSKS}/{kiosk_id}/cert"


def template_keys_path(kiosk_id: str) -> str:
    return f"/{KIOSKS}/{kiosk_id}/templateKeys"


def revocation_path(kiosk_id: str) -> str:
    return f"/{REVOCATIONS}/{kiosk_id}"


def clock_path(kiosk_id: str) -> str:
    return f"/{CLOCKS}/{kiosk_id}"


def user_record(item: PushItem, change_id: str, writer: str) -> dict[str, Any]:
    """The JSON written to /users/{uid} for a push of ``item``."""
    record: dict[str, Any] = {
        "deleted": item.deleted,
        "updatedAt": SERVER_TIMESTAMP,
        "createdAt": int(round(item.created_at * 1000)),
        "origin": item.origin_kiosk,
        "writer": writer,
        "changeId": change_id,
        "revision": item.revision,
    }
    if item.remote_change:
        record["base"] = item.remote_change
    if not item.deleted:
        record.update(email=item.email, passwordHash=item.password_hash)
        if item.consent_version and item.consent_at is not None:
            record.update(consentVersion=item.consent_version, consentAt=_ms(item.consent_at))
        if item.confirmed_at is not None:
            record["confirmedAt"] = _ms(item.confirmed_at)
        elif item.confirm_code and item.confirm_code_until is not None:
            record.update(confirmCode=item.confirm_code, confirmCodeUntil=_ms(item.confirm_code_until))
        if item.language:
            record["language"] = item.language
        if not item.faces:
            pass  # no face yet: an enrollment held for staff review
        elif len(item.faces) == 1:
            model, sealed = item.faces[0]
            record.update(model=model, templates=_encode_templates(sealed))
        else:
            record["faces"] = {
                encode_model_key(model): {"model": model, "templates": _encode_templates(sealed)} for model, sealed in item.faces
            }
    return record


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def record_revision(value: Any) -> int | None:
    """A cloud record's revision: a restored version's ``restoredRevision``, else ``revision``."""
    if not isinstance(value, dict):
        return None
    revision = value.get("restoredRevision", value.get("revision"))
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else None


def keep_confirmation(record: dict[str, Any], theirs: Any) -> dict[str, Any]:
    """``record`` about to replace the genuine version ``theirs``: a confirmation of the
    same email in ``theirs`` stays (it is never undone by a concurrent write that had not
    seen it), and the code it used goes."""
    if record.get("deleted") or not isinstance(theirs, dict) or theirs.get("deleted") is True or "confirmedAt" in record:
        return record
    confirmed = theirs.get("confirmedAt")
    if not isinstance(confirmed, int) or isinstance(confirmed, bool) or theirs.get("email") != record.get("email"):
        return record
    out = {name: value for name, value in record.items() if name not in ("confirmCode", "confirmCodeUntil")}
    out["confirmedAt"] = confirmed
    return out


def _encode_templates(sealed: Sealed) -> dict[str, str]:
    return {tid: base64.b64encode(blob).decode("ascii") for tid, blob in sealed}


# What a pulled record may hold (anything else: quarantined), and how big.
FIELDS = frozenset({
    "deleted", "updatedAt", "createdAt", "origin", "writer", "changeId", "base", "revision",
    "email", "passwordHash", "model", "templates", "faces", "signedAt", "sig",
    "consentVersion", "consentAt", "confirmedAt", "confirmCode", "confirmCodeUntil", "language",
    "restoredBy", "restoredAt", "restoredRevision", "restoreSig",
})
ACCOUNT_FIELDS = frozenset({"consentVersion", "consentAt", "confirmedAt", "confirmCode", "confirmCodeUntil", "language"})
MAX_MODELS = 8  # models one person may have templates of
MAX_TEXT = {
    "email": 320, "passwordHash": 512, "model": 200, "changeId": 200, "base": 200, "origin": 200, "writer": 64,
    "consentVersion": 64, "confirmCode": 90, "restoredBy": 64, "restoreSig": 100, "language": 6,
}
CONFIRM_CODE = re.compile(r"[A-Za-z0-9_-]{1,16}:[0-9a-f]{64}\Z")
LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2})?\Z")  # "de", "pt_BR": a gettext catalog's name
MAX_MS = 2**53 - 1  # the largest integer a JSON double keeps exactly
MAX_REVISION = 2**31 - 1
SEALED_OVERHEAD = 1 + 12 + 16  # format byte, nonce, GCM tag (kiosk/store/templates.py)
KEYED_OVERHEAD = SEALED_OVERHEAD + 4  # format 2 names its key: k<4-byte number>
MAX_TEMPLATE_CHARS = 4 * ((KEYED_OVERHEAD + 4 * 4096 + 2) // 3)  # base64 of the largest blob


def _text(value: Any, name: str, user_id: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise RemoteRecordError(f"user {user_id}: '{name}' is missing or not text")
    if len(value) > MAX_TEXT.get(name, 200):
        raise RemoteRecordError(f"user {user_id}: '{name}' is longer than {MAX_TEXT.get(name, 200)} characters")
    return value


def _int(value: Any, name: str, user_id: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RemoteRecordError(f"user {user_id}: '{name}' is missing or not a whole number in {low}..{high}")
    return value


def _templates(value: Any, user_id: str, max_templates: int) -> Sealed:
    if not isinstance(value, dict) or not value:
        raise RemoteRecordError(f"user {user_id}: 'templates' is missing or not a map")
    if len(value) > max_templates:
        raise RemoteRecordError(f"user {user_id}: {len(value)} templates, more than sync.max_templates ({max_templates})")
    out = []
    for template_id, text in sorted(value.items()):
        try:
            canonical = str(uuid.UUID(template_id)) == template_id
        except (ValueError, TypeError, AttributeError):
            canonical = False
        if not canonical:
            raise RemoteRecordError(f"user {user_id}: a template key is not a template id (a lower-case UUID)")
        if not isinstance(text, str) or len(text) > MAX_TEMPLATE_CHARS:
            raise RemoteRecordError(f"user {user_id}: template {template_id} is not base64 text of a template's size")
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise RemoteRecordError(f"user {user_id}: template {template_id} is not valid base64") from None
        if len(blob) <= _overhead(blob) or (len(blob) - _overhead(blob)) % 4:
            raise RemoteRecordError(f"user {user_id}: template {template_id} has a bad length")
        out.append((template_id, blob))
    return tuple(out)


def _overhead(blob: bytes) -> int:
    return KEYED_OVERHEAD if blob and blob[0] == 2 else SEALED_OVERHEAD


def template_dim(blob: bytes) -> int:
    """The number of values in a sealed template (AES-GCM keeps the length)."""
    return (len(blob) - _overhead(blob)) // 4


def parse_user(user_id: str, value: Any, max_templates: int = 32, model_dims: Mapping[str, int] | None = None) -> RemoteUser:
    """A /users/{uid} value as a RemoteUser; RemoteRecordError (never another exception) if
    it is not one: unknown fields, wrong types, sizes out of range, more than
    ``max_templates`` templates in all, templates of one model of different lengths, or of a
    length other than ``model_dims[model]`` for a model this kiosk knows (see ``_faces``)."""
    try:
        canonical = isinstance(user_id, str) and str(uuid.UUID(user_id)) == user_id
    except (ValueError, TypeError, AttributeError):
        canonical = False
    if not canonical:
        raise RemoteRecordError(f"user {str(user_id)[:80]!r}: the key is not a user id (a lower-case UUID)")
    if not isinstance(value, dict):
        raise RemoteRecordError(f"user {user_id}: the record is not an object")
    unknown = set(value) - FIELDS
    if unknown:
        raise RemoteRecordError(f"user {user_id}: unknown fields {sorted(str(k)[:40] for k in unknown)[:5]}")
    updated = _int(value.get("updatedAt"), "updatedAt", user_id, 0, MAX_MS)
    created = _int(value.get("createdAt", updated), "createdAt", user_id, 0, MAX_MS)
    revision = _int(value.get("revision", 1), "revision", user_id, 1, MAX_REVISION)
    if "restoredRevision" in value or "restoredBy" in value:
        revision = _int(value.get("restoredRevision"), "restoredRevision", user_id, revision + 1, MAX_REVISION)
        _text(value.get("restoredBy"), "restoredBy", user_id)
        _int(value.get("restoredAt"), "restoredAt", user_id, 0, MAX_MS)
        _text(value.get("restoreSig"), "restoreSig", user_id)
    deleted = value.get("deleted", False)
    if not isinstance(deleted, bool):
        raise RemoteRecordError(f"user {user_id}: 'deleted' is not true or false")
    common: dict[str, Any] = dict(
        user_id=user_id,
        deleted=deleted,
        updated_at_ms=updated,
        change_id=_text(value.get("changeId"), "changeId", user_id),
        writer=_text(value.get("writer"), "writer", user_id),
        base=_text(value.get("base"), "base", user_id, required=False),
        revision=revision,
        origin_kiosk=_text(value.get("origin"), "origin", user_id),
        created_at=created / 1000.0,
    )
    if deleted:
        if {"email", "passwordHash", "model", "templates", "faces"} & set(value) or ACCOUNT_FIELDS & set(value):
            raise RemoteRecordError(f"user {user_id}: a tombstone that still holds an email, hash, templates or consent")
        return RemoteUser(**common, raw=value)
    faces = _faces(value, user_id, max_templates, model_dims or {})
    return RemoteUser(
        **common,
        email=_text(value.get("email"), "email", user_id),
        password_hash=_text(value.get("passwordHash"), "passwordHash", user_id),
        faces=faces,
        **_account(value, user_id),
        raw=value,
    )


def _account(value: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Consent, email confirmation and the emails' language (issue 15): all optional, each
    checked for type, size and format."""
    out: dict[str, Any] = {}
    if "language" in value:
        language = _text(value.get("language"), "language", user_id)
        if language is None or not LANGUAGE.match(language):
            raise RemoteRecordError(f"user {user_id}: 'language' is not a language code (\"de\", \"pt_BR\")")
        out["language"] = language
    if "consentVersion" in value or "consentAt" in value:
        out["consent_version"] = _text(value.get("consentVersion"), "consentVersion", user_id)
        out["consent_at_ms"] = _int(value.get("consentAt"), "consentAt", user_id, 0, MAX_MS)
    if "confirmedAt" in value:
        out["confirmed_at_ms"] = _int(value.get("confirmedAt"), "confirmedAt", user_id, 0, MAX_MS)
        if "confirmCode" in value or "confirmCodeUntil" in value:
            raise RemoteRecordError(f"user {user_id}: a confirmed email with a confirmation code still waiting")
    elif "confirmCode" in value or "confirmCodeUntil" in value:
        code = _text(value.get("confirmCode"), "confirmCode", user_id)
        if code is None or not CONFIRM_CODE.match(code):
            raise RemoteRecordError(f"user {user_id}: 'confirmCode' is not <key id>:<64 hex digits>")
        out["confirm_code"] = code
        out["confirm_code_until_ms"] = _int(value.get("confirmCodeUntil"), "confirmCodeUntil", user_id, 0, MAX_MS)
    return out


def _faces(value: dict[str, Any], user_id: str, max_templates: int, model_dims: Mapping[str, int]) -> Faces:
    """The templates by model, from ``faces`` or the one-model ``model`` + ``templates``.

    Per model: every template of one length, and that length the model's when this kiosk
    runs the model; a model it does not run is kept as it is (checked for shape only).
    ``max_templates`` bounds all the templates of the record together."""
    if "faces" in value:
        if {"model", "templates"} & set(value):
            raise RemoteRecordError(f"user {user_id}: both 'faces' and 'model'/'templates'")
        raw = value["faces"]
        if not isinstance(raw, dict) or not raw:
            raise RemoteRecordError(f"user {user_id}: 'faces' is missing or not a map")
        if len(raw) > MAX_MODELS:
            raise RemoteRecordError(f"user {user_id}: templates of {len(raw)} models, more than {MAX_MODELS}")
        entries: list[tuple[str, Any]] = []
        for key, entry in sorted(raw.items()):
            if not isinstance(entry, dict) or set(entry) != {"model", "templates"}:
                raise RemoteRecordError(f"user {user_id}: a 'faces' entry is not {{model, templates}}")
            model = _text(entry.get("model"), "model", user_id)
            assert model is not None
            if key != encode_model_key(model):
                raise RemoteRecordError(f"user {user_id}: a 'faces' entry is filed under another model's key")
            entries.append((model, entry["templates"]))
    elif "model" not in value and "templates" not in value:
        return ()  # an account without a face yet (its enrollment held for staff review)
    else:
        model = _text(value.get("model"), "model", user_id)
        assert model is not None
        entries = [(model, value.get("templates"))]
    faces: list[tuple[str, Sealed]] = []
    total = 0
    seen: set[str] = set()
    for model, raw_templates in sorted(entries):
        templates = _templates(raw_templates, user_id, max_templates)
        total += len(templates)
        if total > max_templates:
            raise RemoteRecordError(f"user {user_id}: {total} templates, more than sync.max_templates ({max_templates})")
        ids = {template_id for template_id, _ in templates}
        if ids & seen:
            raise RemoteRecordError(f"user {user_id}: one template id under two models")
        seen |= ids
        dims = {template_dim(blob) for _, blob in templates}
        if len(dims) != 1:
            raise RemoteRecordError(f"user {user_id}: templates of model {model} of different lengths {sorted(dims)}")
        expected = model_dims.get(model)
        if expected is not None and dims != {expected}:
            raise RemoteRecordError(f"user {user_id}: templates of {dims.pop()} values, model {model} makes {expected}")
        faces.append((model, templates))
    return tuple(faces)

"""The store's half of cloud sync: what to send, applying what arrives, and conflicts.

``kiosk.sync`` talks to Firebase; everything here is local SQLite work inside the caller's
transaction (see the ``Store`` methods that wrap these functions). The rules:

* **Push** (``next_push`` / ``mark_pushed``): the oldest pending outbox row names a user; the
  push carries that user's *current* row, so it covers every pending row of the user up to
  ``PushItem.upto_seq``. Template blobs travel exactly as stored (AES-GCM with the fleet
  template key, bound to user id and model id), so they are never decrypted for sync. A
  person's templates of every model travel together (``faces``: model id -> templates);
  a pulled record replaces them all, including those of models this kiosk does not run
  (kept, never in a gallery), so a fleet can add a model kiosk by kiosk.
* **Pull** (``apply_remote``): a cloud version replaces the local row unless the user has
  pending local changes (they are pushed later and so win: last writer wins by server
  time). A cloud deletion always wins and makes pending local changes moot ("superseded").
  A local tombstone is never brought back to life.
* **Email conflicts**: a live cloud user holds its email in ``/emailIndex`` (it is written
  only after the claim). A local user that never reached the cloud and has the same email
  lost the race: ``resolve_lost_email`` turns it into a tombstone (pushed so every kiosk
  agrees), drops its pending rows and leaves a notice for the person.
* **Lost password changes**: when a pulled version overwrote a version this kiosk wrote
  without having seen it (its ``base`` is not our change), the audit log records it.

State kept for sync: ``users.remote_change`` (id of the cloud version the row is based on),
``users.remote_updated_at`` (its server time, seconds), ``outbox.result``, the
``sync_notices`` table and the meta row ``sync_state``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kiosk.errors import KioskError, StoreError, ValidationError
from kiosk.store import audit as audit_mod
from kiosk.store import db
from kiosk.store import history
from kiosk.store import outbox
from kiosk.store.audit import AuditLog
from kiosk.store.emails import normalize_email
from kiosk.store.templates import MAX_DIM, TemplateCodec, blob_key_id, sealed_overhead


NOTICE_EMAIL_TAKEN = "email_taken"
EMAIL_TAKEN_MESSAGE = "this email was registered at another kiosk"

# apply_remote outcomes
INSERTED = "inserted"
UPDATED = "updated"
DELETED = "deleted"
UNCHANGED = "unchanged"
SKIPPED_PENDING = "skipped-pending"  # local changes wait to be pushed; they win
SKIPPED_TOMBSTONE = "skipped-tombstone"  # deleted here: never resurrected
CONFLICT = "conflict"  # another local user holds the email and has reached the cloud
INVALID = "invalid"  # the cloud record cannot be used (logged by the caller)

CHANGED_OUTCOMES = frozenset({INSERTED, UPDATED, DELETED})
_STATE_KEY = "sync_state"
# The record format this release reads. A kiosk upgraded from an older one reads the whole
# table again once (its catch-up starts from 0): the records its older release quarantined
# for fields it did not know (consent, confirmation, restorations) are applied, and every
# user's current signed version lands in record_history, so `fleet rollback` can restore
# users that have not changed since the upgrade. 3: the emails' language (``language``).
RECORD_FORMAT = 3


class RemoteRecordError(KioskError):
    """A cloud record that cannot be applied (malformed, or sealed with another key)."""


Sealed = tuple[tuple[str, bytes], ...]  # (template id, sealed blob), in order
Faces = tuple[tuple[str, Sealed], ...]  # (model id, that model's templates), one entry a model


def flat_templates(faces: Faces) -> Sealed:
    return tuple(item for _, sealed in faces for item in sealed)


def only_model(faces: Faces) -> str | None:
    """The model id when the templates are of exactly one model, else None."""
    return faces[0][0] if len(faces) == 1 else None


@dataclass(frozen=True)
class RemoteUser:
    """One ``/users/{uid}`` record as read from the cloud (blobs already base64-decoded)."""

    user_id: str
    deleted: bool
    updated_at_ms: int  # server timestamp
    change_id: str  # "<store kiosk id>:<outbox seq>" of the write that made this version
    writer: str  # sync kiosk id of that write
    base: str | None  # the change the writer had seen (None: it saw no earlier version)
    revision: int
    origin_kiosk: str
    created_at: float
    email: str | None = None
    password_hash: str | None = None
    faces: Faces = ()  # templates by model: several models per person since the template upgrade
    consent_version: str | None = None  # the consent text agreed to at sign-up, and when
    consent_at_ms: int | None = None
    confirmed_at_ms: int | None = None  # when the email was confirmed (None: not yet)
    confirm_code: str | None = None  # the code waiting to be typed, as its keyed hash
    confirm_code_until_ms: int | None = None
    language: str | None = None  # the account's emails are written in it (None: the kiosk's)
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)  # as signed (record_history)

    @property
    def model_id(self) -> str | None:
        return only_model(self.faces)

    @property
    def templates(self) -> Sealed:
        return flat_templates(self.faces)


@dataclass(frozen=True)
class PushItem:
    """A user's current row and the pending outbox rows a push of it settles."""

    user_id: str
    upto_seq: int
    kinds: tuple[str, ...]
    revision: int
    deleted: bool
    email: str | None
    email_key: str | None
    released_emails: tuple[str, ...]  # addresses whose /emailIndex entry may point here
    lost_to: str | None  # set when this tombstone withdraws an enrollment that lost its email
    password_hash: str | None
    faces: Faces
    origin_kiosk: str
    created_at: float
    remote_change: str | None
    consent_version: str | None = None
    consent_at: float | None = None
    confirmed_at: float | None = None
    confirm_code: str | None = None
    confirm_code_until: float | None = None
    language: str | None = None

    @property
    def model_id(self) -> str | None:
        return only_model(self.faces)

    @property
    def templates(self) -> Sealed:
        return flat_templates(self.faces)

    def change_id(self, store_kiosk_id: str) -> str:
        return f"{store_kiosk_id}:{self.upto_seq}"


@dataclass(frozen=True)
class Notice:
    kind: str
    message: str
    created_at: float
    user_id: str | None
    other_kiosk: str | None


@dataclass(frozen=True)
class SyncState:
    database: str = ""
    initial_done: bool = False
    last_seen_ms: int = 0


@dataclass
class ApplyReport:
    outcomes: dict[str, str] = field(default_factory=dict)  # user id -> outcome
    problems: list[str] = field(default_factory=list)  # one line per skipped record
    invalid: dict[str, str] = field(default_factory=dict)  # user id -> why it was not applied
    notes: list[str] = field(default_factory=list)  # conflicts resolved, for the log

    @property
    def changed(self) -> list[str]:
        return [uid for uid, outcome in self.outcomes.items() if outcome in CHANGED_OUTCOMES]


# -- push ------------------------------------------------------------------------------------


def next_push(conn: sqlite3.Connection) -> PushItem | None:
    """The user of the oldest pending outbox row, as it is now (one consistent snapshot)."""
    with db.read_snapshot(conn):
        head = conn.execute("SELECT user_id FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1").fetchone()
        if head is None:
            return None
        user_id = head[0]
        rows = conn.execute(
            "SELECT seq, kind, payload FROM outbox WHERE user_id = ? AND sent_at IS NULL ORDER BY seq", (user_id,)
        ).fetchall()
        user = conn.execute(
            "SELECT email, email_key, password_hash, origin_kiosk, created_at, revision, deleted_at, remote_change, "
            "consent_version, consent_at, email_confirmed_at, confirm_code, confirm_code_until, language "
            "FROM users WHERE id = ?",
            (user_id,),
        ).fetchone()
        if user is None:
            raise StoreError(f"outbox row {rows[0][0]} names user {user_id}, who does not exist")
        templates = conn.execute(
            "SELECT id, model_id, blob FROM templates WHERE user_id = ? ORDER BY created_at, rowid", (user_id,)
        ).fetchall()
    (email, email_key, password_hash, origin, created_at, revision, deleted_at, remote_change,
     consent_version, consent_at, confirmed_at, confirm_code, confirm_code_until, language) = user
    payloads = [(kind, json.loads(payload)) for _, kind, payload in rows]
    released = tuple(p["email"] for kind, p in payloads if kind == outbox.DELETE and p.get("email"))
    lost_to = next((p["lost_to"] for kind, p in payloads if kind == outbox.DELETE and p.get("lost_to")), None)
    by_model: dict[str, list[tuple[str, bytes]]] = {}
    for template_id, model, blob in templates:
        by_model.setdefault(model, []).append((template_id, bytes(blob)))
    for _, _, blob in templates:
        if blob_key_id(blob) is None:
            raise StoreError("cloud sync needs encrypted templates (store.encrypt_templates and a template key)")
    return PushItem(
        user_id=user_id,
        upto_seq=int(rows[-1][0]),
        kinds=tuple(kind for kind, _ in payloads),
        revision=int(revision),
        deleted=deleted_at is not None,
        email=email,
        email_key=email_key,
        released_emails=released,
        lost_to=lost_to,
        password_hash=password_hash,
        faces=tuple((model, tuple(sealed)) for model, sealed in sorted(by_model.items())),
        origin_kiosk=origin,
        created_at=float(created_at),
        remote_change=remote_change,
        consent_version=consent_version,
        consent_at=consent_at,
        confirmed_at=confirmed_at,
        confirm_code=confirm_code,
        confirm_code_until=confirm_code_until,
        language=language,
    )


def mark_pushed(
    conn: sqlite3.Connection, item: PushItem, change_id: str, now: float,
    written: dict[str, Any] | None = None, keep_versions: int = 3,
) -> None:
    """The cloud holds ``item`` as ``change_id``: its rows are sent (caller's transaction).
    ``written``: the signed record as written (kept in record_history; a tombstone's
    deletion erases the history instead)."""
    outbox.settle_user(conn, item.user_id, now, outbox.SENT, upto_seq=item.upto_seq)
    conn.execute("UPDATE users SET remote_change = ? WHERE id = ?", (change_id, item.user_id))
    if item.deleted:
        history.erase(conn, item.user_id)
    elif written is not None:
        revision = written.get("revision")
        history.keep(conn, item.user_id, written, revision if isinstance(revision, int) else item.revision, now, keep_versions)


def mark_push_failed(conn: sqlite3.Connection, item: PushItem, error: str) -> None:
    first = conn.execute(
        "SELECT MIN(seq) FROM outbox WHERE user_id = ? AND sent_at IS NULL", (item.user_id,)
    ).fetchone()[0]
    if first is not None:
        outbox.mark_failed(conn, int(first), error)


# -- pull ------------------------------------------------------------------------------------


def _check_remote(codec: TemplateCodec, remote: RemoteUser) -> RemoteUser:
    """The record with its email normalised, or RemoteRecordError saying what is wrong."""
    if remote.deleted:
        return remote
    try:
        address = normalize_email(remote.email or "")
    except ValidationError:
        raise RemoteRecordError(f"user {remote.user_id}: the email is not a valid address") from None
    if not remote.password_hash or not remote.password_hash.startswith("$argon2"):
        raise RemoteRecordError(f"user {remote.user_id}: the password hash is not an argon2 hash")
    if any(not sealed for _, sealed in remote.faces):
        raise RemoteRecordError(f"user {remote.user_id}: a model without face templates")
    for model_id, sealed in remote.faces:
        dims = set()
        for template_id, blob in sealed:
            try:
                uuid.UUID(template_id)
                raw = codec.decode_raw(remote.user_id, model_id, blob)
            except (ValueError, StoreError) as err:
                raise RemoteRecordError(f"user {remote.user_id}: template {template_id}: {err}") from None
            if blob_key_id(blob) is None:
                raise RemoteRecordError(f"user {remote.user_id}: template {template_id} is not encrypted")
            if len(raw) % 4 or not 1 <= len(raw) // 4 <= MAX_DIM:
                raise RemoteRecordError(f"user {remote.user_id}: template {template_id} has a bad length")
            if not np.all(np.isfinite(np.frombuffer(raw, dtype="<f4"))):
                raise RemoteRecordError(f"user {remote.user_id}: template {template_id} holds NaN or infinity")
            dims.add(len(raw) // 4)
        if len(dims) != 1:
            raise RemoteRecordError(f"user {remote.user_id}: templates of model {model_id} of different lengths")
    return replace(remote, email=address.address)


def _has_pending(conn: sqlite3.Connection, user_id: str) -> bool:
    return conn.execute("SELECT 1 FROM outbox WHERE user_id = ? AND sent_at IS NULL LIMIT 1", (user_id,)).fetchone() is not None


def _erase(conn: sqlite3.Connection, user_id: str, email_key: str | None, deleted_at: float) -> None:
    """What a deletion erases (templates, hash, email) without queueing an outbox row."""
    conn.execute("DELETE FROM templates WHERE user_id = ?", (user_id,))
    conn.execute(
        "UPDATE users SET email = NULL, email_key = NULL, password_hash = NULL, deleted_at = ?, consent_version = NULL, "
        "consent_at = NULL, email_confirmed_at = NULL, confirm_code = NULL, confirm_code_until = NULL, language = NULL WHERE id = ?",
        (deleted_at, user_id),
    )
    if email_key:
        conn.execute("DELETE FROM attempts WHERE subject = ?", (email_key,))
        conn.execute("DELETE FROM sync_notices WHERE email_key = ?", (email_key,))  # the address erased with it
    conn.execute("DELETE FROM account_events WHERE user_id = ?", (user_id,))
    conn.execute("DELETE FROM account_dirty WHERE user_id = ?", (user_id,))
    history.erase(conn, user_id)


def _insert_templates(conn: sqlite3.Connection, remote: RemoteUser, created_at: float) -> None:
    conn.executemany(
        "INSERT INTO templates (id, user_id, model_id, dim, blob, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (template_id, remote.user_id, model_id, (len(blob) - sealed_overhead(blob)) // 4, blob, created_at)
            for model_id, sealed in remote.faces
            for template_id, blob in sealed
        ],
    )


def _apply_deleted(
    conn: sqlite3.Connection, audit: AuditLog, remote: RemoteUser, local: tuple[Any, ...] | None, now: float, notes: list[str]
) -> str:
    seconds = remote.updated_at_ms / 1000.0
    if local is None:
        conn.execute(
            "INSERT INTO users (id, origin_kiosk, created_at, updated_at, revision, deleted_at, remote_updated_at, remote_change) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (remote.user_id, remote.origin_kiosk, remote.created_at, seconds, max(1, remote.revision), seconds, seconds, remote.change_id),
        )
        return INSERTED
    _, email, email_key, _, _, revision, deleted_at, _, remote_change = local
    superseded = outbox.settle_user(conn, remote.user_id, now, outbox.SUPERSEDED, reason=f"deleted at kiosk {remote.writer}")
    conn.execute(
        "UPDATE users SET revision = MAX(revision, ?), remote_updated_at = ?, remote_change = ? WHERE id = ?",
        (remote.revision, seconds, remote.change_id, remote.user_id),
    )
    if deleted_at is not None:
        return UNCHANGED
    _erase(conn, remote.user_id, email_key, seconds)
    conn.execute("UPDATE users SET updated_at = ? WHERE id = ?", (seconds, remote.user_id))
    reason = f"deleted at kiosk {remote.writer}"
    if superseded:
        reason += f"; {superseded} local change(s) not yet sent were discarded (a deletion wins)"
        notes.append(f"user {remote.user_id}: {reason}")
    audit.record(audit_mod.DELETE, audit_mod.OK, email_key=email_key, email=email, user_id=remote.user_id, reason=reason)
    return DELETED


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _keep_confirmation(conn: sqlite3.Connection, remote: RemoteUser) -> None:
    """A confirmation the cloud version carries is kept even when the rest of it is not
    applied (local changes pending, or the version is ours already): it is never undone."""
    if remote.confirmed_at_ms is not None:
        conn.execute(
            "UPDATE users SET email_confirmed_at = ?, confirm_code = NULL, confirm_code_until = NULL "
            "WHERE id = ? AND email_confirmed_at IS NULL AND deleted_at IS NULL",
            (_seconds(remote.confirmed_at_ms), remote.user_id),
        )


def _keep_version(conn: sqlite3.Connection, remote: RemoteUser, now: float, keep_versions: int) -> None:
    if remote.raw is not None:
        history.keep(conn, remote.user_id, remote.raw, remote.revision, now, keep_versions)


def apply_remote(
    conn: sqlite3.Connection,
    codec: TemplateCodec,
    audit: AuditLog,
    remote: RemoteUser,
    store_kiosk_id: str,
    now: float,
    notes: list[str] | None = None,
    keep_versions: int = 3,
) -> str:
    """Bring one cloud version into the local table (caller's transaction); the outcome.

    RemoteRecordError (nothing written) when the record cannot be used. Conflicts it settles
    are recorded in the audit log and described in ``notes``.
    """
    notes = [] if notes is None else notes
    local = conn.execute(
        "SELECT id, email, email_key, password_hash, origin_kiosk, revision, deleted_at, remote_updated_at, remote_change "
        "FROM users WHERE id = ?",
        (remote.user_id,),
    ).fetchone()
    if remote.deleted:
        return _apply_deleted(conn, audit, remote, local, now, notes)
    if local is not None and local[6] is not None:
        return SKIPPED_TOMBSTONE
    if local is not None and _has_pending(conn, remote.user_id):
        _keep_confirmation(conn, remote)
        return SKIPPED_PENDING
    seconds = remote.updated_at_ms / 1000.0
    if local is not None and remote.change_id == local[8]:
        # The version held here; a restoration of it (fleet rollback) only raises the revision.
        conn.execute(
            "UPDATE users SET remote_updated_at = ?, revision = MAX(revision, ?) WHERE id = ?",
            (seconds, remote.revision, remote.user_id),
        )
        _keep_confirmation(conn, remote)
        _keep_version(conn, remote, now, keep_versions)
        return UNCHANGED
    if local is not None and local[7] is not None and seconds < local[7]:
        return UNCHANGED  # older than the version we already hold
    if local is not None and remote.revision < local[5]:
        return UNCHANGED  # an older version written again (a replay): revisions only grow
    remote = _check_remote(codec, remote)
    address = normalize_email(remote.email or "")
    holder = conn.execute(
        "SELECT id, remote_change FROM users WHERE email_key = ? AND id != ?", (address.key, remote.user_id)
    ).fetchone()
    if holder is not None:
        if holder[1] is not None:
            return CONFLICT
        # Never reached the cloud, and the cloud user holds the email: ours lost the race.
        if resolve_lost_email(conn, audit, holder[0], remote.user_id, remote.writer, now):
            notes.append(
                f"user {holder[0]}: {EMAIL_TAKEN_MESSAGE} (kiosk {remote.writer}, user {remote.user_id}); "
                "this kiosk's enrollment was withdrawn"
            )
    if local is None:
        conn.execute(
            "INSERT INTO users (id, email, email_key, password_hash, origin_kiosk, created_at, updated_at, revision, "
            "remote_updated_at, remote_change, consent_version, consent_at, email_confirmed_at, confirm_code, "
            "confirm_code_until, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                remote.user_id, address.address, address.key, remote.password_hash, remote.origin_kiosk,
                remote.created_at, seconds, max(1, remote.revision), seconds, remote.change_id,
                remote.consent_version, _seconds(remote.consent_at_ms), _seconds(remote.confirmed_at_ms),
                remote.confirm_code, _seconds(remote.confirm_code_until_ms), remote.language,
            ),
        )
        _insert_templates(conn, remote, seconds)
        _keep_version(conn, remote, now, keep_versions)
        return INSERTED
    _, _, _, old_hash, _, _, _, _, remote_change = local
    ours = remote_change is not None and remote_change.startswith(store_kiosk_id + ":")
    if ours and remote.base != remote_change and remote.password_hash != old_hash:
        notes.append(
            f"user {remote.user_id}: the password change made here was overwritten by a later one "
            f"from kiosk {remote.writer} (last writer wins)"
        )
        audit.record(
            audit_mod.PASSWORD_CHANGE,
            audit_mod.CONFLICT,
            email_key=address.key,
            email=address.address,
            user_id=remote.user_id,
            reason=f"the change made here was overwritten by a later one from kiosk {remote.writer} (last writer wins)",
        )
    conn.execute(
        "UPDATE users SET email = ?, email_key = ?, password_hash = ?, updated_at = ?, revision = MAX(revision, ?), "
        "remote_updated_at = ?, remote_change = ?, consent_version = COALESCE(?, consent_version), "
        "consent_at = COALESCE(?, consent_at), language = COALESCE(?, language), "
        "confirm_code_tries = CASE WHEN confirm_code IS ? THEN confirm_code_tries ELSE 0 END, "
        "confirm_code = ?, confirm_code_until = ? WHERE id = ?",
        (address.address, address.key, remote.password_hash, seconds, remote.revision, seconds, remote.change_id,
         remote.consent_version, _seconds(remote.consent_at_ms), remote.language, remote.confirm_code, remote.confirm_code,
         _seconds(remote.confirm_code_until_ms), remote.user_id),
    )
    _keep_confirmation(conn, remote)
    conn.execute(  # a confirmation stays (never undone by a version that had not seen it)
        "UPDATE users SET confirm_code = NULL, confirm_code_until = NULL WHERE id = ? AND email_confirmed_at IS NOT NULL",
        (remote.user_id,),
    )
    _keep_version(conn, remote, now, keep_versions)
    current = conn.execute(
        "SELECT id, model_id, blob FROM templates WHERE user_id = ?", (remote.user_id,)
    ).fetchall()
    wanted = {(tid, model, blob) for model, sealed in remote.faces for tid, blob in sealed}
    if {(tid, model, bytes(blob)) for tid, model, blob in current} != wanted:
        history.materialize(conn, remote.user_id)  # the kept versions that share the old ones
        conn.execute("DELETE FROM templates WHERE user_id = ?", (remote.user_id,))
        _insert_templates(conn, remote, seconds)
    return UPDATED


def apply_remote_batch(
    conn: sqlite3.Connection, codec: TemplateCodec, audit: AuditLog, remotes: list[RemoteUser], store_kiosk_id: str, now: float,
    keep_versions: int = 3,
) -> ApplyReport:
    """Apply several versions (caller's transaction); one bad record does not stop the rest."""
    report = ApplyReport()
    for remote in remotes:
        conn.execute("SAVEPOINT remote_user")
        try:
            report.outcomes[remote.user_id] = apply_remote(
                conn, codec, audit, remote, store_kiosk_id, now, report.notes, keep_versions
            )
            conn.execute("RELEASE remote_user")
        except (RemoteRecordError, sqlite3.IntegrityError, OverflowError, ValueError, TypeError, UnicodeError) as err:
            # Whatever a record holds, it costs only itself: never the page, the cursor or the store.
            conn.execute("ROLLBACK TO remote_user")
            conn.execute("RELEASE remote_user")
            report.outcomes[remote.user_id] = INVALID
            text = str(err) if isinstance(err, RemoteRecordError) else f"user {remote.user_id}: unusable ({type(err).__name__})"
            report.problems.append(text)
            report.invalid[remote.user_id] = text
    return report


# -- conflicts and notices ---------------------------------------------------------------------


def resolve_lost_email(
    conn: sqlite3.Connection, audit: AuditLog, user_id: str, winner_id: str | None, winner_kiosk: str | None, now: float
) -> bool:
    """A local enrollment whose email another kiosk registered first: withdraw it.

    The user becomes a tombstone (its withdrawal is queued so every kiosk ends up with the
    same table), its unsent rows are dropped, and a notice waits for the person. False if the
    user is not live any more (nothing to do).
    """
    row = conn.execute(
        "SELECT email, email_key, revision FROM users WHERE id = ? AND deleted_at IS NULL", (user_id,)
    ).fetchone()
    if row is None:
        return False
    email, email_key, revision = row
    reason = EMAIL_TAKEN_MESSAGE + (f" (kiosk {winner_kiosk})" if winner_kiosk else "")
    outbox.settle_user(conn, user_id, now, outbox.DROPPED, reason=reason)
    _erase(conn, user_id, email_key, now)
    conn.execute("UPDATE users SET updated_at = ?, revision = ? WHERE id = ?", (now, revision + 1, user_id))
    outbox.add(conn, user_id, outbox.DELETE, revision + 1, now, {"lost_to": winner_id or ""})
    conn.execute(
        "INSERT OR REPLACE INTO sync_notices (email_key, kind, message, user_id, other_kiosk, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (email_key, NOTICE_EMAIL_TAKEN, EMAIL_TAKEN_MESSAGE, user_id, winner_kiosk, now),
    )
    audit.record(
        audit_mod.SYNC,
        audit_mod.CONFLICT,
        email_key=email_key,
        email=email,
        user_id=user_id,
        reason=f"{reason}: this kiosk's enrollment was withdrawn" + (f" in favour of user {winner_id}" if winner_id else ""),
    )
    return True


def notice_for(conn: sqlite3.Connection, email_key: str) -> Notice | None:
    row = conn.execute(
        "SELECT kind, message, created_at, user_id, other_kiosk FROM sync_notices WHERE email_key = ?", (email_key,)
    ).fetchone()
    return Notice(*row) if row else None


def dismiss_notice(conn: sqlite3.Connection, email_key: str) -> bool:
    return conn.execute("DELETE FROM sync_notices WHERE email_key = ?", (email_key,)).rowcount > 0


# -- sync state ---------------------------------------------------------------------------------


def load_state(conn: sqlite3.Connection, database: str) -> SyncState:
    """Where sync stands against ``database``; a fresh state if it was another database."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_STATE_KEY,)).fetchone()
    if row is None:
        return SyncState(database=database)
    data: dict[str, Any] = json.loads(bytes(row[0]).decode("utf-8"))
    if data.get("database") != database:
        return SyncState(database=database)
    if int(data.get("format", 1)) < RECORD_FORMAT:
        return SyncState(database, bool(data.get("initial_done")), 0)  # read everything again once
    return SyncState(database, bool(data.get("initial_done")), int(data.get("last_seen_ms", 0)))


def save_state(conn: sqlite3.Connection, state: SyncState) -> None:
    value = json.dumps({"database": state.database, "initial_done": state.initial_done, "last_seen_ms": state.last_seen_ms,
                        "format": RECORD_FORMAT})
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_STATE_KEY, value.encode("utf-8")))

"""``Store``: the kiosk's account operations, each a complete and durable step.

Typical use (the UI calls the slow ones, argon2 and the duplicate search, off its thread)::

    store = Store.open(settings)                      # StoreError if the key is missing
    store.enroll(email, password, templates, model_id, duplicate_threshold=t)
    store.sign_in_password(email, password)           # AuthenticationError / LockedOutError
    user, templates = store.face_templates(email, model_id)   # ReenrollRequiredError
    store.record_face_attempt(email, accepted, score, reason)
    store.change_password(user.id, new_password)

A change and its outbox row (and its audit entry) commit together with
``synchronous=FULL`` before the method returns, so "done" on screen means on disk.
A ``Store`` and its connection belong to one thread.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from kiosk.config import Settings
from kiosk.store import audit as audit_mod
from kiosk.store import db, history, lockout as lockout_mod, outbox, replica, users
from kiosk.store.audit import AuditLog
from kiosk.store.emails import Email, normalize_email
from kiosk.store.errors import (
    AuthenticationError,
    DuplicateFaceError,
    EmailTakenError,
    LockedOutError,
    ReenrollRequiredError,
    StoreError,
    UnknownUserError,
)
from kiosk.store import rotation
from kiosk.store.gallery import DuplicateSearch, GalleryCache, find_duplicate
from kiosk.vision.matcher import Gallery
from kiosk.store.lockout import LockStatus, Lockout
from kiosk.store import limits as limits_mod
from kiosk.store import mail as mail_store
from kiosk.store.clock import FleetClock
from kiosk.store.passwords import Passwords
from kiosk.store.templates import TemplateCodec, derive_key, key_check_value, key_matches, load_named_template_key, missing_key_error
from kiosk.store.users import User

EXPORT_FORMAT = "facekiosk-user-export/1"


@dataclass(frozen=True)
class HeldEnrollment:
    """An account whose templates wait for staff review: ``like`` is the user id of the
    account its face looked like, ``score`` the fused score, ``since`` wall time."""

    user: User
    like: str | None
    score: float | None
    since: float


def iso_time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _meta(conn: sqlite3.Connection, key: str, make: Callable[[], bytes]) -> bytes:
    """A per-database value, created on first use (safely against a concurrent first use)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is not None:
        return bytes(row[0])
    with db.transaction(conn, durable=True):
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, make()))
    return bytes(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])


class Store:
    def __init__(
        self,
        conn: sqlite3.Connection,
        settings: Settings,
        codec: TemplateCodec,
        kiosk_id: str,
        hmac_key: bytes | None,
        clock: Callable[[], float],
        path: Path,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.codec = codec
        self.galleries = GalleryCache(conn)
        self.kiosk_id = kiosk_id
        self.clock = clock
        self.path = path
        self.passwords = Passwords(settings.passwords)
        # Waits run on fleet time (server-anchored, monotonic): a clock step changes nothing.
        # An injected clock (tests) is also the monotonic one unless one is given.
        self.fleet_clock = FleetClock(conn, clock, monotonic or (time.monotonic if clock is time.time else clock))
        self.limits = limits_mod.AccountLimits(conn, settings.lockout, self.fleet_clock, settings.mail.code_max_tries)
        # Emails typed at failed attempts are counted by their keyed hash, never kept in clear.
        subject_of = (lambda key: audit_mod.email_hmac(hmac_key, key)) if hmac_key is not None else None
        self.lockout = Lockout(conn, settings.lockout, kiosk_id, self.fleet_clock.now, subject_of)
        self.audit = AuditLog(conn, settings.audit, kiosk_id, clock, hmac_key)

    @classmethod
    def open(
        cls,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        require_key: bool = True,
        create: bool = True,
        monotonic: Callable[[], float] | None = None,
    ) -> "Store":
        """Open (creating and migrating) the database named by the config.

        With ``require_key`` (the kiosk service) a missing template key is an error now;
        without it (admin commands that never touch a template) only the operations that
        need the key fail, with the same message. ``create`` False refuses to make a new
        database (admin commands pointed at the wrong file).
        """
        environ = os.environ if environ is None else environ
        encrypt = settings.store.encrypt_templates
        named = load_named_template_key(settings.store, settings.resolve, environ)
        key_id, key = named if named is not None else ("k1", None)
        if encrypt and key is None and require_key:
            raise missing_key_error()
        path = db.db_path(settings.store, settings.resolve, environ)
        if not create and not path.is_file():
            raise StoreError(f"no user database at {path} ({db.where_db_was_looked_for(settings.store)})")
        conn = db.connect(path, create=create)
        try:
            if key is not None:
                check = _meta(conn, "template_key_check", lambda: key_check_value(key))
                if not key_matches(key, check):
                    raise StoreError(
                        f"the template key does not match the user database {path}: "
                        "it was created with another key (restore that key, or start a new database)"
                    )
            kiosk_id = _meta(conn, "kiosk_id", lambda: str(uuid.uuid4()).encode()).decode()
            if key is not None:
                hmac_key: bytes | None = derive_key(key, b"audit-email-hmac-v1")
            elif not encrypt:
                hmac_key = _meta(conn, "audit_secret", lambda: os.urandom(32))
            else:
                hmac_key = None
            codec = TemplateCodec(key, encrypt, key_id)
            rotation.watch_keyring(codec, path)  # keys sync took in after a rotation
            store = cls(conn, settings, codec, kiosk_id, hmac_key, clock, path, monotonic)
            with db.transaction(conn):
                store.fleet_clock.start()
                store.audit.purge_images()
            return store
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------

    def get_user(self, email: str) -> User:
        return users.require_user(self.conn, normalize_email(email))

    def find_user(self, email: str) -> User | None:
        """The live user with this email, or None (``get_user`` raises UnknownUserError)."""
        return users.find_user(self.conn, normalize_email(email))

    def list_users(self, include_deleted: bool = False) -> list[User]:
        return users.list_users(self.conn, include_deleted)

    def count_users(self) -> int:
        """Live accounts (tombstones not counted), without loading them."""
        return users.count_users(self.conn)

    def data_version(self) -> int:
        """A number that changes when another connection commits to the database, and only
        then (SQLite's ``PRAGMA data_version``): a cheap "anything new?" to poll. This
        store's own commits do not change it."""
        return db.data_version(self.conn)

    def gallery(self, model_id: str, metric: str = "euclidean") -> Gallery:
        """All live templates of ``model_id`` as one matrix, for the 1:N matcher (kept
        between calls while no template changed: GalleryCache). Read-only."""
        return self.galleries.get(self.codec, model_id, metric)

    def lockout_status(self, email: str) -> LockStatus:
        return self.lockout.status(normalize_email(email).key)

    # -- template key rotation (sync takes the fleet's keys in; kiosk/store/rotation.py) ------

    def adopt_template_keys(self, keys: dict[str, bytes], current: str, retired: set[str]) -> bool:
        """Hold the fleet's template keys, seal with ``current``, drop the ``retired``."""
        return rotation.adopt(self.codec, self.path, keys, current, retired)

    def reseal_templates(self, limit: int = 20) -> int:
        """Seal up to ``limit`` of this kiosk's own users' templates again under the current
        key (each one change, pushed signed like any other); returns the users still waiting."""
        stale = rotation.stale_users(self.conn, self.codec, self.kiosk_id)
        for user_id in stale[:limit]:
            with db.transaction(self.conn, durable=True):
                rotation.reseal_user(self.conn, self.codec, user_id, self.clock())
        return max(0, len(stale) - limit)

    def templates_by_key(self) -> dict[str, int]:
        return rotation.blobs_by_key(self.conn)

    def pending_outbox(self, limit: int = 100) -> list[outbox.OutboxEntry]:
        return outbox.pending(self.conn, limit)

    # -- enrollment ---------------------------------------------------------------------

    def enroll(
        self,
        email: str,
        password: str,
        templates: Sequence[object],
        model_id: str,
        duplicate_threshold: float | None = None,
        user_id: str | None = None,
        metric: str = "euclidean",
        more_templates: Mapping[str, Sequence[object]] | None = None,
        duplicates: DuplicateSearch | None = None,
        consent_version: str = "",
        language: str = "",
    ) -> User:
        """Create a user with a password and face templates, or refuse with the reason.
        ``consent_version`` (the consent text agreed to, now) and ``language`` (for the
        account's emails) are part of the new record: one transaction, one push.

        ``templates`` are ``model_id``'s; ``more_templates`` other models' (model id ->
        templates). With ``duplicate_threshold`` (a distance in the model's ``metric``)
        the new templates are first searched against every enrolled face of the same
        model, inside the transaction, and a match is refused (DuplicateFaceError).
        With ``duplicates`` (the kiosk's fused search) a likely duplicate is instead held
        for staff review: the account is made, its templates wait aside (``held_for_review``),
        the attempt counts as a failed face attempt, and nothing tells the person.
        """
        address = normalize_email(email)
        vectors = users.check_templates(templates)
        more = {model: users.check_templates(rows) for model, rows in (more_templates or {}).items() if model != model_id}
        new_id = users.check_user_id(user_id) if user_id is not None else str(uuid.uuid4())
        password_hash = self.passwords.hash(password, address)  # slow: outside the write lock
        now = self.clock()
        try:
            with db.transaction(self.conn, durable=True):
                if users.find_user(self.conn, address) is not None:
                    raise EmailTakenError(f"the email {address.address} is already registered")
                if duplicate_threshold is not None:
                    match = find_duplicate(self.gallery(model_id, metric), np.stack(vectors), duplicate_threshold)
                    if match is not None:
                        raise DuplicateFaceError(
                            "this face is already registered to another account", match.owner, match.distance
                        )
                every = {model_id: vectors, **more}
                held = duplicates(self.gallery, {m: np.stack(rows) for m, rows in every.items()}) if duplicates else None
                users.insert_user(
                    self.conn,
                    self.codec,
                    user_id=new_id,
                    email=address,
                    password_hash=password_hash,
                    model_id=model_id,
                    vectors=vectors,
                    kiosk_id=self.kiosk_id,
                    now=now,
                    more=more,
                    held=held is not None,
                )
                users.set_initial_facts(self.conn, new_id, consent_version or None, now if consent_version else None,
                                        language or None)
                if held is not None:
                    users.hold_templates(self.conn, self.codec, new_id, every, now, held.owner, held.distance)
                    self.lockout.record_failure(address.key, lockout_mod.FACE)
                    self.audit.record(audit_mod.ENROLL, audit_mod.REVIEW, email_key=address.key, email=address.address,
                                      user_id=new_id, score=held.distance,
                                      reason=f"face like account {held.owner}: held for staff review (facekiosk users review)")
                else:
                    self.audit.record(audit_mod.ENROLL, audit_mod.OK, email_key=address.key, email=address.address, user_id=new_id)
        except (EmailTakenError, DuplicateFaceError) as err:
            score = err.distance if isinstance(err, DuplicateFaceError) else None
            with db.transaction(self.conn):
                self.audit.record(audit_mod.ENROLL, audit_mod.REFUSED, email_key=address.key, email=address.address, score=score, reason=str(err))
            raise
        return users.get_user(self.conn, new_id)  # type: ignore[return-value]

    def held_for_review(self) -> list[HeldEnrollment]:
        """Enrollments held because their face looked like an enrolled one, oldest first."""
        held = []
        for user_id, other, score, since in users.held_users(self.conn):
            user = users.get_user(self.conn, user_id)
            if user is not None:
                held.append(HeldEnrollment(user, other, score, since))
        return held

    def review(self, user_id: str, approve: bool) -> int:
        """Staff's decision on a held enrollment: approve (its templates become the
        account's and sync) or reject (they are erased; the account keeps its password).
        Returns the number of templates; UnknownUserError if nothing is held for it."""
        with db.transaction(self.conn, durable=True):
            user = users.get_user(self.conn, user_id)
            count = users.release_templates(self.conn, user_id, approve, self.clock()) if user is not None else 0
            if user is None or count == 0:
                raise UnknownUserError(f"no enrollment of {user_id} is held for review")
            self.audit.record(audit_mod.ENROLL, audit_mod.OK if approve else audit_mod.REFUSED, email_key=user.email_key,
                              email=user.email, user_id=user_id, reason="review approved" if approve else "review rejected")
        return count

    def user_templates(self, user_id: str, model_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """A user's templates of each of ``model_ids`` they have (model id -> matrix)."""
        found = {}
        for model_id in model_ids:
            matrix = users.user_templates(self.conn, self.codec, user_id, model_id)
            if matrix.shape[0]:
                found[model_id] = matrix
        return found

    def upgrade_refused(self, user_id: str, score: float | None) -> None:
        """Audit a template upgrade whose pictures did not match the account's face."""
        user = users.get_user(self.conn, user_id)
        with db.transaction(self.conn):
            self.audit.record(audit_mod.ENROLL, audit_mod.REFUSED, email_key=user.email_key if user else None,
                              email=user.email if user else None, user_id=user_id, score=score,
                              reason="template upgrade: the pictures do not match the account's face")

    def add_templates(self, user_id: str, templates: Sequence[object], model_id: str) -> User:
        """A model's templates for a user who lacks them (the template upgrade after a
        password sign-in); the user's other models' templates stay."""
        vectors = users.check_templates(templates)
        with db.transaction(self.conn, durable=True):
            user = users.get_user(self.conn, user_id)
            if user is None:
                raise UnknownUserError(f"no account with the id {user_id}")
            users.add_model_templates(self.conn, self.codec, user_id, model_id, vectors, self.clock())
            self.audit.record(audit_mod.ENROLL, audit_mod.OK, email_key=user.email_key, email=user.email, user_id=user_id,
                              reason=f"templates added for {model_id}")
        return users.get_user(self.conn, user_id)  # type: ignore[return-value]

    def reenroll(
        self, user_id: str, templates: Sequence[object], model_id: str, duplicate_threshold: float | None = None, metric: str = "euclidean"
    ) -> User:
        """Replace a signed-in user's templates (e.g. after a model change)."""
        vectors = users.check_templates(templates)
        now = self.clock()
        with db.transaction(self.conn, durable=True):
            user = users.get_user(self.conn, user_id)
            if user is None:
                raise UnknownUserError(f"no account with the id {user_id}")
            if duplicate_threshold is not None:
                others = self.gallery(model_id, metric).without(user_id)
                match = find_duplicate(others, np.stack(vectors), duplicate_threshold)
                if match is not None:
                    raise DuplicateFaceError("this face is already registered to another account", match.owner, match.distance)
            users.replace_templates(self.conn, self.codec, user_id, model_id, vectors, now)
            self.audit.record(audit_mod.ENROLL, audit_mod.OK, email_key=user.email_key, email=user.email, user_id=user_id, reason="re-enrollment")
        return users.get_user(self.conn, user_id)  # type: ignore[return-value]

    # -- signing in ---------------------------------------------------------------------

    def _refuse_if_locked(self, address: Email, action: str) -> None:
        user = users.find_user(self.conn, address)
        account = self.limits.status(user.id) if user is not None else None
        status = self.lockout.status(address.key)
        if account is not None and action == audit_mod.SIGN_IN_PASSWORD and account.password_locked:
            with db.transaction(self.conn):
                self.audit.record(action, audit_mod.LOCKED, email_key=address.key, email=address.address, user_id=user.id if user else None,
                                  reason=f"password locked after {account.password_failures} failed attempts: face reset or unlock")
            raise LockedOutError("This password is locked: reset it with your face, or ask staff.", "password",
                                 max(status.remaining_s, self.settings.lockout.lockout_s))
        if account is not None and action == audit_mod.SIGN_IN_FACE and account.face_wait_s > status.remaining_s:
            # The fleet-wide wait is the longer one: that is the true remaining time.
            with db.transaction(self.conn):
                self.audit.record(action, audit_mod.LOCKED, email_key=address.key, email=address.address, user_id=user.id if user else None,
                                  reason=f"account waits after {account.face_failures} failed face attempts (fleet-wide)")
            raise LockedOutError("Too many failed attempts for this email.", lockout_mod.EMAIL, account.face_wait_s)
        if status.locked:
            with db.transaction(self.conn):
                self.audit.record(action, audit_mod.LOCKED, email_key=address.key, email=address.address, reason=f"{status.scope} locked")
            raise LockedOutError(status.message(), status.scope or "", status.remaining_s)

    def sign_in_password(self, email: str, password: str) -> User:
        """The user if the password is right; AuthenticationError or LockedOutError if not.

        An unknown email costs the same time and counts the same as a wrong password, so
        neither the answer nor its timing tells whether an account exists.
        """
        address = normalize_email(email)
        self._refuse_if_locked(address, audit_mod.SIGN_IN_PASSWORD)
        user = users.find_user(self.conn, address)
        stored = users.password_hash(self.conn, user.id) if user else None
        result = self.passwords.verify(stored, password)
        if not result.ok:
            with db.transaction(self.conn, durable=True):
                status = self.lockout.record_failure(address.key, lockout_mod.PASSWORD)
                if user is not None:
                    self.limits.record(user.id, limits_mod.PASSWORD_FAIL)
                self.audit.record(
                    audit_mod.SIGN_IN_PASSWORD,
                    audit_mod.FAIL,
                    email_key=address.key,
                    email=address.address,
                    user_id=user.id if user else None,
                    reason="wrong password" if user else "unknown email",
                )
            if status.locked:
                raise LockedOutError(status.message(), status.scope or "", status.remaining_s)
            left = f" ({status.attempts_left} tries left)" if status.attempts_left <= 3 else ""
            raise AuthenticationError(f"wrong email or password{left}")
        assert user is not None
        with db.transaction(self.conn, durable=result.new_hash is not None):
            self.lockout.record_success(address.key)
            self.limits.record(user.id, limits_mod.PASSWORD_OK)
            reason = ""
            if result.new_hash is not None and stored is not None:
                if users.set_password_hash(self.conn, user.id, result.new_hash, self.clock(), "rehash", expected_old=stored):
                    reason = "password hash upgraded"
            self.audit.record(audit_mod.SIGN_IN_PASSWORD, audit_mod.OK, email_key=address.key, email=address.address, user_id=user.id, reason=reason)
        return users.get_user(self.conn, user.id) or user

    def face_templates_of(self, email: str, model_ids: Sequence[str]) -> tuple[User, dict[str, np.ndarray]]:
        """The user and their templates of each of ``model_ids`` they have (model id ->
        matrix). LockedOutError if locked; ReenrollRequiredError when they have none of
        those models' templates (another model's only, none, or held for review)."""
        address = normalize_email(email)
        self._refuse_if_locked(address, audit_mod.SIGN_IN_FACE)
        user = users.require_user(self.conn, address)
        found = {}
        for model_id in model_ids:
            matrix = users.user_templates(self.conn, self.codec, user.id, model_id)
            if matrix.shape[0]:
                found[model_id] = matrix
        if not found:
            raise ReenrollRequiredError("no face of the kiosk's models is enrolled for this account")
        return user, found

    def face_templates(self, email: str, model_id: str) -> tuple[User, np.ndarray]:
        """The user and their templates of ``model_id`` to compare a face against.

        LockedOutError if locked; ReenrollRequiredError when the user's templates were
        made by another model (they are never compared) or there are none.
        """
        address = normalize_email(email)
        self._refuse_if_locked(address, audit_mod.SIGN_IN_FACE)
        user = users.require_user(self.conn, address)
        matrix = users.user_templates(self.conn, self.codec, user.id, model_id)
        if matrix.shape[0] == 0:
            if user.templates:
                raise ReenrollRequiredError(
                    "your face was enrolled with an older face model and cannot be checked: "
                    "sign in with your password and enroll your face again"
                )
            raise ReenrollRequiredError("no face is enrolled for this account: sign in with your password and enroll your face")
        return user, matrix

    def record_face_attempt(
        self, email: str, accepted: bool, score: float | None, reason: str = "", image: bytes | None = None
    ) -> LockStatus:
        """Count a face comparison's outcome (lockout and audit); the status after it."""
        address = normalize_email(email)
        user = users.find_user(self.conn, address)
        with db.transaction(self.conn, durable=not accepted):
            if accepted:
                self.lockout.record_success(address.key)
            else:
                self.lockout.record_failure(address.key, lockout_mod.FACE)
            if user is not None:
                self.limits.record(user.id, limits_mod.FACE_OK if accepted else limits_mod.FACE_FAIL)
            self.audit.record(
                audit_mod.SIGN_IN_FACE,
                audit_mod.OK if accepted else audit_mod.FAIL,
                email_key=address.key,
                email=address.address,
                user_id=user.id if user else None,
                score=score,
                reason=reason,
                image=image,
            )
            self.audit.purge_images()
        status = self.lockout.status(address.key)
        if user is not None and not accepted:
            account = self.limits.status(user.id)  # the fleet-wide wait, when longer
            if account.face_wait_s > status.remaining_s:
                status = LockStatus(True, lockout_mod.EMAIL, account.face_wait_s, status.failures, 0)
        return status

    # -- changes ------------------------------------------------------------------------

    def change_password(self, user_id: str, new_password: str, reason: str = "reset") -> User:
        """Set a new password for a user already verified (by face or old password)."""
        user = users.get_user(self.conn, user_id)
        if user is None:
            raise UnknownUserError(f"no account with the id {user_id}")
        address = Email(user.email or "", user.email_key or "")
        new_hash = self.passwords.hash(new_password, address)
        with db.transaction(self.conn, durable=True):
            users.set_password_hash(self.conn, user_id, new_hash, self.clock(), reason)
            self.audit.record(audit_mod.PASSWORD_CHANGE, audit_mod.OK, email_key=user.email_key, email=user.email, user_id=user_id, reason=reason)
        return users.get_user(self.conn, user_id)  # type: ignore[return-value]

    def delete_user(self, email: str, reason: str = "") -> User:
        """Erase a user's templates, hash and email, leaving a tombstone for sync."""
        address = normalize_email(email)
        with db.transaction(self.conn, durable=True):
            user = users.require_user(self.conn, address)
            users.tombstone(self.conn, user, self.clock(), keep_email=self.settings.sync.enabled or user.remote_updated_at is not None)
            self.conn.execute("DELETE FROM attempts WHERE subject = ?", (self.lockout.subject(address.key),))
            self.limits.forget(user.id)
            replica.dismiss_notice(self.conn, address.key)
            self.audit.record(audit_mod.DELETE, audit_mod.OK, email_key=address.key, email=address.address, user_id=user.id, reason=reason)
        # Old page images of the erased rows can linger in the WAL until it is reset.
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass  # busy: the next checkpoint will do it
        return users.get_user(self.conn, user.id, include_deleted=True)  # type: ignore[return-value]

    # -- cloud sync (kiosk.sync drives these; see kiosk/store/replica.py) ----------------------

    def pending_count(self) -> int:
        """Outbox rows not yet delivered to the cloud."""
        return outbox.pending_count(self.conn)

    def next_push(self) -> replica.PushItem | None:
        return replica.next_push(self.conn)

    def mark_pushed(self, item: replica.PushItem, change_id: str, written: dict[str, Any] | None = None) -> None:
        """``item`` is in the cloud as ``change_id``; ``written`` the signed record (kept in history)."""
        with db.transaction(self.conn, durable=True):
            replica.mark_pushed(self.conn, item, change_id, self.clock(), written, self.settings.sync.keep_versions)

    def record_versions(self, user_id: str) -> list[history.Version]:
        """The signed versions of a user record kept here, newest first (kiosk/store/history.py)."""
        return history.versions(self.conn, user_id)

    def mark_push_failed(self, item: replica.PushItem, error: str) -> None:
        with db.transaction(self.conn):
            replica.mark_push_failed(self.conn, item, error)

    def apply_remote(
        self, remotes: Sequence[replica.RemoteUser], state: replica.SyncState | None = None
    ) -> replica.ApplyReport:
        """Apply cloud versions and (with ``state``) record how far sync got, in one transaction."""
        with db.transaction(self.conn):
            report = replica.apply_remote_batch(
                self.conn, self.codec, self.audit, list(remotes), self.kiosk_id, self.clock(), self.settings.sync.keep_versions
            )
            if state is not None:
                replica.save_state(self.conn, state)
        if any(outcome == replica.DELETED for outcome in report.outcomes.values()):
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # see delete_user
            except sqlite3.OperationalError:
                pass
        return report

    def resolve_lost_email(self, user_id: str, winner_id: str | None, winner_kiosk: str | None) -> bool:
        """Withdraw a local enrollment whose email another kiosk registered first."""
        with db.transaction(self.conn, durable=True):
            return replica.resolve_lost_email(self.conn, self.audit, user_id, winner_id, winner_kiosk, self.clock())

    def sync_state(self, database: str) -> replica.SyncState:
        return replica.load_state(self.conn, database)

    def save_sync_state(self, state: replica.SyncState) -> None:
        with db.transaction(self.conn):
            replica.save_state(self.conn, state)

    # -- fleet-wide attempt limits (kiosk.sync pushes and merges the ledgers) ---------------

    def set_server_time(self, server_ms: int) -> None:
        with db.transaction(self.conn):
            self.fleet_clock.set_server_time(server_ms)

    def ledgers_to_push(self, limit: int = 100) -> list[tuple[str, list[tuple[str, int]]]]:
        """(user id, this kiosk's events) of the accounts whose ledger changed here."""
        with db.read_snapshot(self.conn):
            return [(user_id, self.limits.ledger(user_id)) for user_id in self.limits.dirty(limit)]

    def mark_ledger_pushed(self, user_id: str, upto_ms: int) -> None:
        with db.transaction(self.conn):
            self.limits.pushed(user_id, upto_ms)

    def merge_ledgers(self, ledgers: list[tuple[str, str, list[tuple[str, int]]]], database: str, seen_ms: int | None) -> None:
        """Other kiosks' ledgers (user id, kiosk id, events), and the pull cursor after them."""
        with db.transaction(self.conn, durable=True):
            for user_id, kiosk_id, events in ledgers:
                if users.get_user(self.conn, user_id, include_deleted=True) is not None and \
                        users.get_user(self.conn, user_id) is None:
                    continue  # erased here: its attempts are not kept
                self.limits.merge(user_id, kiosk_id, events)
            if seen_ms is not None:
                limits_mod.save_cursor(self.conn, database, seen_ms)

    def ledger_cursor(self, database: str) -> int:
        return limits_mod.load_cursor(self.conn, database)

    def account_status(self, email: str) -> limits_mod.AccountStatus | None:
        """The fleet-wide attempt state of an account (None: no such account)."""
        user = users.find_user(self.conn, normalize_email(email))
        return self.limits.status(user.id) if user is not None else None

    def unlock(self, email: str) -> limits_mod.AccountStatus:
        """An administrator clears an account's failed attempts, here and (through sync)
        at every kiosk. UnknownUserError if there is no such account."""
        address = normalize_email(email)
        with db.transaction(self.conn, durable=True):
            user = users.require_user(self.conn, address)
            self.limits.record(user.id, limits_mod.UNLOCK)
            self.lockout.unlock(address.key)
            self.audit.record(audit_mod.SIGN_IN_PASSWORD, audit_mod.OK, email_key=address.key, email=address.address,
                              user_id=user.id, reason="unlocked by an administrator")
        return self.limits.status(user.id)

    def sync_notice(self, email: str) -> replica.Notice | None:
        """A message the person using ``email`` must see (e.g. "this email was registered at
        another kiosk"), or None. The UI asks on the next interaction with that email."""
        return replica.notice_for(self.conn, normalize_email(email).key)

    def dismiss_sync_notice(self, email: str) -> bool:
        with db.transaction(self.conn):
            return replica.dismiss_notice(self.conn, normalize_email(email).key)

    def _export_account_facts(self, user_id: str) -> dict[str, Any]:
        facts = mail_store.account_facts(self, user_id)
        return {"consent": {"version": facts.consent_version, "given_at": iso_time(facts.consent_at)},
                "email_confirmed_at": iso_time(facts.confirmed_at), "email_language": facts.language}

    def export_user(self, email: str) -> dict[str, Any]:
        """A person's own data as JSON-ready values, without password hash or templates."""
        address = normalize_email(email)
        user = users.require_user(self.conn, address)
        entries = self.audit.entries(user_id=user.id, email_key=address.key)
        with db.transaction(self.conn):
            self.audit.record(audit_mod.EXPORT, audit_mod.OK, email_key=address.key, email=address.address, user_id=user.id)
        return {
            "format": EXPORT_FORMAT,
            "exported_at": iso_time(self.clock()),
            "id": user.id,
            "email": user.email,
            "created_at": iso_time(user.created_at),
            "updated_at": iso_time(user.updated_at),
            "revision": user.revision,
            "enrolled_on_kiosk": user.origin_kiosk,
            "password": {"set": user.has_password, "stored_as": "argon2id hash (not exported)"},
            **self._export_account_facts(user.id),
            "face_templates": [
                {"id": t.id, "model": t.model_id, "values": t.dim, "created_at": iso_time(t.created_at), "stored_as": "encrypted (not exported)"}
                for t in user.templates
            ],
            "audit": [
                {
                    "at": iso_time(e.at),
                    "kiosk": e.kiosk_id,
                    "action": e.action,
                    "result": e.result,
                    "score": e.score,
                    "reason": e.reason,
                    "image_kept": e.has_image,
                }
                for e in entries
            ],
            "pending_sync_changes": sum(1 for e in outbox.for_user(self.conn, user.id) if e.sent_at is None),
            "attempts": self._export_attempts(user.id),
        }

    def _export_attempts(self, user_id: str) -> dict[str, Any]:
        """The account's attempts ledger as every kiosk of the fleet recorded it (kiosk/store/limits.py)."""
        account = self.limits.status(user_id)
        return {
            "events": [{"kiosk": kiosk or self.settings.sync.kiosk_id or self.kiosk_id, "kind": kind, "at": iso_time(at / 1000.0)}
                       for kiosk, kind, at in self.limits.events(user_id)],
            "face_failures": account.face_failures, "face_wait_s": round(account.face_wait_s, 1),
            "password_failures": account.password_failures, "password_locked": account.password_locked,
            "confirmation_code_failures": account.code_failures,
        }

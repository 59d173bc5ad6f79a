"""The audit log: who tried what, when, with which result, score and reason.

Emails (``audit.hash_emails``, on by default) are recorded as an HMAC-SHA256 of the
email's comparison key, never as a plain hash: a plain hash of an email is reversed by
hashing a list of addresses. The HMAC key is derived from the template key, which lives
outside the database, so a copy of the database alone does not link hashes to
addresses. When templates are not encrypted there is no such key, and a random secret
stored in the database is used instead (weaker: it travels with the database). With no
key at hand (an admin command run without the template key) the hash is left empty
and entries of known users are still linked by user id.

Face images are kept only when ``audit.store_images`` is on, and are erased after
``audit.image_retention_days``; turning the option off erases the ones kept so far.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

from kiosk.config.store import AuditSettings

# Actions
ENROLL = "enroll"
SIGN_IN_PASSWORD = "sign_in_password"
SIGN_IN_FACE = "sign_in_face"
PASSWORD_CHANGE = "password_change"
DELETE = "delete"
EXPORT = "export"
SYNC = "sync"  # what cloud sync did to a local user (conflicts, remote deletions)
# Results
OK = "ok"
FAIL = "fail"
REFUSED = "refused"
REVIEW = "review"  # an enrollment held for staff review (its face looked like an enrolled one)
LOCKED = "locked"
CONFLICT = "conflict"  # a local change lost to another kiosk's (email taken, password overwritten)

DAY_S = 86400.0


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    kiosk_id: str
    action: str
    user_id: str | None
    email: str | None
    email_hash: str | None
    result: str
    score: float | None
    reason: str
    has_image: bool


def entry_of(row: tuple[Any, ...]) -> AuditEntry:
    """An AuditEntry from a row of id .. reason, then ``image IS NOT NULL``."""
    (id_, at, kiosk_id, action, user_id, email, email_hash, result, score, reason, has_image) = row
    return AuditEntry(id_, at, kiosk_id, action, user_id, email, email_hash, result, score, reason, bool(has_image))


def email_hmac(key: bytes, email_key: str) -> str:
    return hmac.new(key, email_key.encode("utf-8"), hashlib.sha256).hexdigest()


_EMAIL_LIKE = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+")


def scrub_emails(text: str) -> str:
    """``text`` with anything shaped like an email address replaced by ``<email>``."""
    return _EMAIL_LIKE.sub("<email>", text) if "@" in text else text


class AuditLog:
    def __init__(
        self,
        conn: sqlite3.Connection,
        settings: AuditSettings,
        kiosk_id: str,
        clock: Callable[[], float],
        hmac_key: bytes | None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.kiosk_id = kiosk_id
        self.clock = clock
        self._hmac_key = hmac_key

    def email_hash(self, email_key: str) -> str | None:
        return email_hmac(self._hmac_key, email_key) if self._hmac_key is not None else None

    def record(
        self,
        action: str,
        result: str,
        *,
        email_key: str | None = None,
        email: str | None = None,
        user_id: str | None = None,
        score: float | None = None,
        reason: str = "",
        image: bytes | None = None,
        image_type: str = "image/jpeg",
    ) -> int:
        """Add one entry (inside the caller's transaction if there is one)."""
        plain = email if (email is not None and not self.settings.hash_emails) else None
        reason = scrub_emails(reason)  # reasons are free text: an address in one would outlive erasure
        digest = self.email_hash(email_key) if email_key is not None else None
        keep_image = image if (image is not None and self.settings.store_images and self.settings.image_retention_days > 0) else None
        cursor = self.conn.execute(
            "INSERT INTO audit (at, kiosk_id, action, user_id, email, email_hash, result, score, reason, image, image_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.clock(),
                self.kiosk_id,
                action,
                user_id,
                plain,
                digest,
                result,
                None if score is None else float(score),
                reason,
                keep_image,
                image_type if keep_image is not None else None,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def entries(
        self,
        since: float | None = None,
        until: float | None = None,
        user_id: str | None = None,
        email_key: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries oldest first; ``user_id`` and ``email_key`` select one person's (either matches)."""
        where: list[str] = []
        params: list[object] = []
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        who = []
        if user_id is not None:
            who.append("user_id = ?")
            params.append(user_id)
        if email_key is not None:
            digest = self.email_hash(email_key)
            if digest is not None:
                who.append("email_hash = ?")
                params.append(digest)
        if user_id is not None or email_key is not None:
            where.append("(" + (" OR ".join(who) or "0") + ")")
        sql = (
            "SELECT id, at, kiosk_id, action, user_id, email, email_hash, result, score, reason, image IS NOT NULL FROM audit"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY at, id"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [entry_of(row) for row in self.conn.execute(sql, params)]

    def image(self, entry_id: int) -> tuple[bytes, str] | None:
        row = self.conn.execute("SELECT image, image_type FROM audit WHERE id = ? AND image IS NOT NULL", (entry_id,)).fetchone()
        return (bytes(row[0]), row[1]) if row else None

    def purge_old(self) -> int:
        """Erase entries older than ``audit.retention_days``; returns how many."""
        cutoff = self.clock() - self.settings.retention_days * DAY_S
        return self.conn.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount

    def purge_images(self) -> int:
        """Erase images past retention (all of them when images are off), and entries past
        ``audit.retention_days``; returns how many images."""
        self.purge_old()
        if self.settings.store_images:
            cutoff = self.clock() - self.settings.image_retention_days * DAY_S
            cursor = self.conn.execute("UPDATE audit SET image = NULL, image_type = NULL WHERE image IS NOT NULL AND at < ?", (cutoff,))
        else:
            cursor = self.conn.execute("UPDATE audit SET image = NULL, image_type = NULL WHERE image IS NOT NULL")
        return cursor.rowcount

"""Email kept in the store: the queue of emails for the SMTP relay, one-time codes, the
confirmed state of an account's email, the language its emails are written in and the
consent a person gave.

The queue is durable: an email is queued in the same transaction as what it reports (an
enrollment, a reset), so a kiosk that is offline, or restarts, still sends it later
(kiosk.mail.worker). A row holds the recipient and the body only until it is sent or
dropped; then both are erased. Codes are 6 digits from ``secrets``; only an HMAC of each
is kept (keyed like the audit log's email hashes), per email hash and purpose, with its
expiry and wrong tries. A new code replaces the previous one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ContextManager

from kiosk.store import db

if TYPE_CHECKING:
    from kiosk.store.emails import Email
    from kiosk.store.service import Store

CONFIRM = "confirm"
RESET = "reset"
CODE_DIGITS = 6
# Outcomes of a code check
OK = "ok"
WRONG = "wrong"  # no such code, or another one: the same answer either way
TOO_MANY = "too_many"
EXPIRED = "expired"
# Queue results
SENT = "sent"
DROPPED = "dropped"


@dataclass(frozen=True)
class QueuedMail:
    id: int
    kind: str
    recipient: str
    subject: str
    body: str
    attempts: int
    expires_at: float


def _tx(store: Store) -> ContextManager[object]:
    """The caller's transaction if one is open, else a durable one of its own."""
    return contextlib.nullcontext() if store.conn.in_transaction else db.transaction(store.conn, durable=True)


def enqueue(store: Store, kind: str, recipient: str, subject: str, body: str, lifetime_s: float) -> int:
    """Queue one email (inside the caller's transaction if there is one)."""
    now = store.clock()
    with _tx(store):
        cursor = store.conn.execute(
            "INSERT INTO mail_queue (kind, recipient, subject, body, created_at, expires_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, recipient, subject, body, now, now + lifetime_s, now),
        )
    return int(cursor.lastrowid or 0)


def enqueue_code(store: Store, email: Email, purpose: str, lifetime_s: float, kind: str,
                 compose: Callable[[str], tuple[str, str]]) -> None:
    """A new code for ``email`` and the email that carries it (``compose(code)`` gives its
    subject and body), in one transaction."""
    with _tx(store):
        code = issue_code(store, email, purpose, lifetime_s)
        subject, body = compose(code)
        enqueue(store, kind, email.address, subject, body, lifetime_s)


def due(store: Store, limit: int = 10) -> list[QueuedMail]:
    """Emails to send now, oldest first; those past their lifetime are dropped (erased)."""
    now = store.clock()
    with db.transaction(store.conn):
        store.conn.execute(
            "UPDATE mail_queue SET result = ?, recipient = '', body = '' WHERE result IS NULL AND expires_at <= ?", (DROPPED, now)
        )
    rows = store.conn.execute(
        "SELECT id, kind, recipient, subject, body, attempts, expires_at FROM mail_queue "
        "WHERE result IS NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?",
        (now, limit),
    ).fetchall()
    return [QueuedMail(*row) for row in rows]


def next_due_in(store: Store) -> float | None:
    """Seconds until the next queued email is due (0: now), None when nothing waits."""
    row = store.conn.execute("SELECT MIN(next_at) FROM mail_queue WHERE result IS NULL").fetchone()
    return None if row is None or row[0] is None else max(0.0, float(row[0]) - store.clock())


def mark_sent(store: Store, mail_id: int) -> None:
    with db.transaction(store.conn):
        store.conn.execute(
            "UPDATE mail_queue SET result = ?, sent_at = ?, recipient = '', body = '', attempts = attempts + 1 WHERE id = ?",
            (SENT, store.clock(), mail_id),
        )


def mark_failed(store: Store, mail_id: int, error: str, retry_in_s: float, permanent: bool = False) -> None:
    with db.transaction(store.conn):
        if permanent:
            store.conn.execute(
                "UPDATE mail_queue SET result = ?, last_error = ?, recipient = '', body = '', attempts = attempts + 1 WHERE id = ?",
                (DROPPED, error[:500], mail_id),
            )
        else:
            store.conn.execute(
                "UPDATE mail_queue SET last_error = ?, attempts = attempts + 1, next_at = ? WHERE id = ?",
                (error[:500], store.clock() + retry_in_s, mail_id),
            )


@dataclass(frozen=True)
class QueueCounts:
    pending: int
    sent: int
    dropped: int
    last_error: str | None


def counts(store: Store) -> QueueCounts:
    rows = dict(store.conn.execute("SELECT COALESCE(result, 'pending'), COUNT(*) FROM mail_queue GROUP BY 1").fetchall())
    error = store.conn.execute("SELECT last_error FROM mail_queue WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    return QueueCounts(int(rows.get("pending", 0)), int(rows.get(SENT, 0)), int(rows.get(DROPPED, 0)), error[0] if error else None)


def _subject(store: Store, email: Email) -> str:
    digest = store.audit.email_hash(email.key)
    if digest is None:
        raise RuntimeError("email codes need the template key (the keyed hash of the email)")
    return digest


def _code_hash(store: Store, subject: str, purpose: str, code: str) -> str:
    key = (store.audit.email_hash(f"code-key/{subject}") or "").encode()
    return hmac.new(key, f"{purpose}/{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(store: Store, email: Email, purpose: str, lifetime_s: float) -> str:
    """A new code for ``email`` and ``purpose`` (the previous one stops working)."""
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    subject = _subject(store, email)
    now = store.clock()
    with _tx(store):
        store.conn.execute(
            "INSERT OR REPLACE INTO email_codes (email_hash, purpose, code_hash, created_at, expires_at, attempts) "
            "VALUES (?, ?, ?, ?, ?, 0)",
            (subject, purpose, _code_hash(store, subject, purpose, code), now, now + lifetime_s),
        )
    return code


def check_code(store: Store, email: Email, purpose: str, typed: str, max_tries: int) -> str:
    """OK (and the code is used up), WRONG, TOO_MANY or EXPIRED. An email that has no code
    answers WRONG, like a wrong code, and counts the same."""
    subject = _subject(store, email)
    now = store.clock()
    with db.transaction(store.conn, durable=True):
        row = store.conn.execute(
            "SELECT code_hash, expires_at, attempts FROM email_codes WHERE email_hash = ? AND purpose = ?", (subject, purpose)
        ).fetchone()
        if row is None:
            return WRONG
        code_hash, expires_at, attempts = row
        if attempts >= max_tries:
            return TOO_MANY
        if expires_at <= now:
            store.conn.execute("DELETE FROM email_codes WHERE email_hash = ? AND purpose = ?", (subject, purpose))
            return EXPIRED
        typed = typed.strip()
        if typed.isascii() and typed.isdigit() and hmac.compare_digest(code_hash, _code_hash(store, subject, purpose, typed)):
            store.conn.execute("DELETE FROM email_codes WHERE email_hash = ? AND purpose = ?", (subject, purpose))
            return OK
        store.conn.execute("UPDATE email_codes SET attempts = attempts + 1 WHERE email_hash = ? AND purpose = ?", (subject, purpose))
        return TOO_MANY if attempts + 1 >= max_tries else WRONG


def set_confirmed(store: Store, user_id: str) -> None:
    with _tx(store):
        store.conn.execute("UPDATE users SET email_confirmed_at = ? WHERE id = ? AND email_confirmed_at IS NULL", (store.clock(), user_id))


def is_confirmed(store: Store, user_id: str) -> bool:
    row = store.conn.execute("SELECT email_confirmed_at FROM users WHERE id = ?", (user_id,)).fetchone()
    return row is not None and row[0] is not None


def record_consent(store: Store, user_id: str, version: str) -> None:
    with _tx(store):
        store.conn.execute("UPDATE users SET consent_version = ?, consent_at = ? WHERE id = ?", (version, store.clock(), user_id))


def consent(store: Store, user_id: str) -> tuple[str | None, float | None]:
    row = store.conn.execute("SELECT consent_version, consent_at FROM users WHERE id = ?", (user_id,)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def set_language(store: Store, user_id: str, language: str) -> None:
    """The language the screen showed at sign-up: the account's emails are written in it."""
    with _tx(store):
        store.conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))


def language_of(store: Store, user_id: str) -> str | None:
    """The account's language for its emails; None when not known (an account made before
    it was kept, or elsewhere): the kiosk's configured language then."""
    row = store.conn.execute("SELECT language FROM users WHERE id = ?", (user_id,)).fetchone()
    return str(row[0]) if row is not None and row[0] else None

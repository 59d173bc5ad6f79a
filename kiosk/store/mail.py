"""Email kept in the store: the queue of emails for the SMTP relay, one-time codes, the
confirmed state of an account's email, the language its emails are written in and the
consent a person gave.

The queue is durable: an email is queued in the same transaction as what it reports (an
enrollment, a reset), so a kiosk that is offline, or restarts, still sends it later
(kiosk.mail.worker). A row holds the recipient and the body only until it is sent or
dropped; then both are erased. Codes are 6 digits from ``secrets``; only an HMAC of each
is kept (keyed like the audit log's email hashes), per email hash and purpose, with its
expiry and wrong tries. A new code replaces the previous one.

Consent, confirmation, the confirmation code and the emails' language travel with the
signed user record (kiosk/sync/layout.py), so a person may type the code at any kiosk and
every kiosk writes to them in their language: a confirmation code
for an account is also kept on its row as ``<key id>:<HMAC-SHA256>`` of the user id and the
code, keyed by a key derived from that fleet template key (every kiosk holds it; the code
itself never leaves the kiosk that sent it). Each of these changes bumps the revision and
queues a push. A kiosk checks a typed confirmation code against the account's newest code
(its own or one that came with the record), counting wrong tries there and in the
account's fleet-wide attempts ledger (kiosk/store/limits.py), so the fleet together
allows ``mail.code_max_tries`` wrong tries of a code.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ContextManager

from kiosk.store import db, limits, users
from kiosk.store.templates import derive_key

if TYPE_CHECKING:
    from kiosk.store.emails import Email
    from kiosk.store.service import Store

CONFIRM = "confirm"
RESET = "reset"
CODE_DIGITS = 6
LOCAL_KEY = "local"  # the travelling code's key without a template key (no sync then)
# Outcomes of a code check
OK = "ok"
WRONG = "wrong"  # no such code, or another one: the same answer either way
TOO_MANY = "too_many"
EXPIRED = "expired"
WAIT = "wait"  # too many wrong codes lately (any of the account's, fleet-wide): not checked yet
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
        if purpose == CONFIRM:
            row = store.conn.execute(
                "SELECT id FROM users WHERE email_key = ? AND deleted_at IS NULL AND email_confirmed_at IS NULL", (email.key,)
            ).fetchone()
            travelling = travelling_hash(store, row[0], code) if row is not None else None
            if row is not None and travelling is not None:
                users.set_account_facts(
                    store.conn, row[0], now, "confirm_code = ?, confirm_code_until = ?, confirm_code_tries = 0",
                    (travelling, now + lifetime_s), "confirmation code",
                )
                store.limits.record(row[0], limits.CODE_SENT)  # its wrong tries start again, fleet-wide
    return code


def _travelling_key(store: Store, key_id: str) -> bytes | None:
    if key_id == LOCAL_KEY:
        digest = store.audit.email_hash("confirm-code-key")
        return digest.encode("ascii") if digest is not None else None
    key = store.codec.key(key_id)
    return derive_key(key, b"email-confirm-code-v1") if key is not None else None


def travelling_hash(store: Store, user_id: str, code: str, key_id: str | None = None) -> str | None:
    """``<key id>:<HMAC-SHA256 hex>`` of the account's confirmation code (None: no key here)."""
    key_id = key_id or store.codec.current_key_id or LOCAL_KEY
    key = _travelling_key(store, key_id)
    if key is None:
        return None
    return f"{key_id}:" + hmac.new(key, f"{user_id}/{code}".encode(), hashlib.sha256).hexdigest()


def _check_travelling(store: Store, row: tuple[object, ...], typed: str, max_tries: int, now: float) -> str:
    """A typed code against the account's newest confirmation code (caller's transaction).
    Wrong tries are counted here (this kiosk's own, which hold offline) and in the
    account's fleet-wide ledger (kiosk/store/limits.py): past ``max_tries`` of either, no
    code is checked until a new one is sent; and once the account had that many wrong codes
    lately, the next is checked only after the wait (WAIT)."""
    user_id, code, until, tries = row
    assert isinstance(user_id, str) and isinstance(code, str) and isinstance(tries, int)
    account = store.limits.status(user_id)
    if tries >= max_tries or account.code_locked:
        return TOO_MANY
    if account.code_wait_s > 0:
        return WAIT
    if not isinstance(until, (int, float)) or until <= now:
        return EXPIRED
    key_id = code.partition(":")[0]
    expected = travelling_hash(store, user_id, typed, key_id) if typed.isascii() and typed.isdigit() else None
    if expected is not None and hmac.compare_digest(expected, code):
        return OK
    store.conn.execute("UPDATE users SET confirm_code_tries = confirm_code_tries + 1 WHERE id = ?", (user_id,))
    store.limits.record(user_id, limits.CODE_FAIL)
    return TOO_MANY if tries + 1 >= max_tries or store.limits.status(user_id).code_locked else WRONG


def check_code(store: Store, email: Email, purpose: str, typed: str, max_tries: int) -> str:
    """OK (and the code is used up), WRONG, TOO_MANY, EXPIRED or (a confirmation code) WAIT.
    An email that has no code answers WRONG, like a wrong code, and counts the same."""
    subject = _subject(store, email)
    now = store.clock()
    with db.transaction(store.conn, durable=True):
        if purpose == CONFIRM:
            account = store.conn.execute(
                "SELECT id, confirm_code, confirm_code_until, confirm_code_tries FROM users "
                "WHERE email_key = ? AND deleted_at IS NULL AND confirm_code IS NOT NULL", (email.key,)
            ).fetchone()
            if account is not None:
                outcome = _check_travelling(store, account, typed.strip(), max_tries, now)
                if outcome == OK:
                    store.conn.execute("DELETE FROM email_codes WHERE email_hash = ? AND purpose = ?", (subject, purpose))
                return outcome
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
    """The account's email is confirmed (it travels with the record; its code goes)."""
    with _tx(store):
        row = store.conn.execute(
            "SELECT 1 FROM users WHERE id = ? AND email_confirmed_at IS NULL AND deleted_at IS NULL", (user_id,)
        ).fetchone()
        if row is not None:
            now = store.clock()
            users.set_account_facts(
                store.conn, user_id, now,
                "email_confirmed_at = ?, confirm_code = NULL, confirm_code_until = NULL, confirm_code_tries = 0", (now,),
                "email confirmed",
            )


def is_confirmed(store: Store, user_id: str) -> bool:
    row = store.conn.execute("SELECT email_confirmed_at FROM users WHERE id = ?", (user_id,)).fetchone()
    return row is not None and row[0] is not None


def record_consent(store: Store, user_id: str, version: str) -> None:
    """The consent text ``version`` the person agreed to, now (it travels with the record)."""
    with _tx(store):
        now = store.clock()
        users.set_account_facts(store.conn, user_id, now, "consent_version = ?, consent_at = ?", (version, now), "consent")


@dataclass(frozen=True)
class AccountFacts:
    consent_version: str | None
    consent_at: float | None
    confirmed_at: float | None
    code_until: float | None  # the newest confirmation code's expiry (None: none waiting)
    language: str | None  # the emails' language (None: the kiosk's ui.language)


def account_facts(store: Store, user_id: str) -> AccountFacts:
    """Consent, email confirmation and language of an account (``facekiosk users show``)."""
    row = store.conn.execute(
        "SELECT consent_version, consent_at, email_confirmed_at, confirm_code_until, language FROM users WHERE id = ?",
        (user_id,),
    ).fetchone()
    return AccountFacts(*row) if row else AccountFacts(None, None, None, None, None)


def consent(store: Store, user_id: str) -> tuple[str | None, float | None]:
    row = store.conn.execute("SELECT consent_version, consent_at FROM users WHERE id = ?", (user_id,)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def set_language(store: Store, user_id: str, language: str) -> None:
    """The language the screen showed at sign-up: the account's emails are written in it,
    at every kiosk (it travels with the record: a change bumps the revision and pushes)."""
    with _tx(store):
        row = store.conn.execute(
            "SELECT 1 FROM users WHERE id = ? AND deleted_at IS NULL AND language IS NOT ?", (user_id, language)
        ).fetchone()
        if row is not None:
            users.set_account_facts(store.conn, user_id, store.clock(), "language = ?", (language,), "language")


def language_of(store: Store, user_id: str) -> str | None:
    """The account's language for its emails; None when not known (an account made before
    it was kept, or elsewhere): the kiosk's configured language then."""
    row = store.conn.execute("SELECT language FROM users WHERE id = ?", (user_id,)).fetchone()
    return str(row[0]) if row is not None and row[0] else None

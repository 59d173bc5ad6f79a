"""The durable outbox: changes that must reach the cloud, written with the change itself.

Callers add a row inside the same transaction as the change (see ``users.py``), so after
any crash either both are on disk or neither is. A row names the user, the kind of
change and the user's revision after it; the sync worker reads the user's current row
when it sends, so the outbox holds no password hash and no template. ``payload`` carries
only what the row cannot give back later (e.g. the email of a deleted user, whose
tombstone no longer has it).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

ENROLL = "enroll"
PASSWORD = "password"
DELETE = "delete"
ACCOUNT = "account"  # consent, email confirmation, a new confirmation code, the emails' language (travel with the record)
KINDS = (ENROLL, PASSWORD, DELETE, ACCOUNT)


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    user_id: str
    kind: str
    revision: int
    payload: dict[str, Any]
    created_at: float
    attempts: int
    last_error: str | None
    sent_at: float | None


_COLUMNS = "seq, user_id, kind, revision, payload, created_at, attempts, last_error, sent_at"


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    seq, user_id, kind, revision, payload, created_at, attempts, last_error, sent_at = row
    return OutboxEntry(seq, user_id, kind, revision, json.loads(payload), created_at, attempts, last_error, sent_at)


def add(conn: sqlite3.Connection, user_id: str, kind: str, revision: int, now: float, payload: dict[str, Any] | None = None) -> int:
    """Queue a change; call inside the transaction that makes the change."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    if not conn.in_transaction:
        raise RuntimeError("outbox rows must be written inside the change's transaction")
    cursor = conn.execute(
        "INSERT INTO outbox (user_id, kind, revision, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (user_id, kind, revision, json.dumps(payload or {}, ensure_ascii=False, sort_keys=True), now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def pending(conn: sqlite3.Connection, limit: int = 100) -> list[OutboxEntry]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,))
    return [_entry(row) for row in rows]


def for_user(conn: sqlite3.Connection, user_id: str) -> list[OutboxEntry]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE user_id = ? ORDER BY seq", (user_id,))
    return [_entry(row) for row in rows]


# How a row that is no longer pending ended (outbox.result).
SENT = "sent"
SUPERSEDED = "superseded"  # a deletion that came from the cloud made it moot
DROPPED = "dropped"  # the enrollment lost its email to another kiosk
SET_ASIDE = "set-aside"  # the server kept refusing it (kiosk/store/poison.py)


def mark_sent(conn: sqlite3.Connection, seq: int, now: float) -> None:
    # A deletion's payload holds the erased email: once delivered it is not kept.
    conn.execute(
        "UPDATE outbox SET sent_at = ?, result = ?, last_error = NULL, "
        "payload = CASE WHEN kind = ? THEN '{}' ELSE payload END WHERE seq = ?",
        (now, SENT, DELETE, seq),
    )


def settle_user(conn: sqlite3.Connection, user_id: str, now: float, result: str, upto_seq: int | None = None, reason: str | None = None) -> int:
    """End the user's pending rows (up to ``upto_seq``) with ``result``; returns how many."""
    cursor = conn.execute(
        "UPDATE outbox SET sent_at = ?, result = ?, last_error = ?, "
        "payload = CASE WHEN kind = ? THEN '{}' ELSE payload END "
        "WHERE user_id = ? AND sent_at IS NULL AND seq <= ?",
        (now, result, reason, DELETE, user_id, upto_seq if upto_seq is not None else 2**62),
    )
    return cursor.rowcount


def pending_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0])


def mark_failed(conn: sqlite3.Connection, seq: int, error: str) -> None:
    conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", (error[:500], seq))

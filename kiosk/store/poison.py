"""Changes the server kept refusing: set aside so the changes behind them go on.

A push that the server refuses (its answer says the write is invalid or not allowed, or the
record cannot be written at all) while it still accepts this kiosk's heartbeat counts as one
try of that change; after ``sync.max_push_tries`` the user's pending outbox rows end with
result ``set-aside`` and the refusal as ``last_error`` (emails replaced by ``<email>``).
They stay in the outbox table, so nothing about them is lost: ``facekiosk fleet set-aside``
lists them and ``--retry USER`` queues them again. No new table or migration: ``result``
already says how a row that is no longer pending ended (kiosk/store/outbox.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.store import db, outbox
from kiosk.store.audit import scrub_emails
from kiosk.store.replica import PushItem
from kiosk.store.service import Store

__all__ = ["SetAside", "count", "entries", "record_refusal", "retry", "scrub_emails", "set_aside"]


@dataclass(frozen=True)
class SetAside:
    user_id: str
    kinds: tuple[str, ...]  # the changes set aside (enroll, password, delete), oldest first
    tries: int
    reason: str
    set_aside_at: float


def record_refusal(store: Store, item: PushItem, reason: str) -> int:
    """Count one refused try of ``item`` (on its oldest pending row); the tries so far."""
    conn = store.conn
    with db.transaction(conn):
        first = conn.execute("SELECT MIN(seq) FROM outbox WHERE user_id = ? AND sent_at IS NULL", (item.user_id,)).fetchone()[0]
        if first is None:
            return 0
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", (scrub_emails(reason)[:500], first)
        )
        return int(conn.execute("SELECT attempts FROM outbox WHERE seq = ?", (first,)).fetchone()[0])


def set_aside(store: Store, item: PushItem, reason: str) -> int:
    """End the pending rows ``item`` covers as set aside; how many."""
    with db.transaction(store.conn, durable=True):
        return outbox.settle_user(store.conn, item.user_id, store.clock(), outbox.SET_ASIDE, item.upto_seq, scrub_emails(reason)[:500])


def entries(store: Store) -> list[SetAside]:
    """Every user with changes set aside, the most recent first."""
    rows = store.conn.execute(
        "SELECT user_id, kind, attempts, last_error, sent_at FROM outbox WHERE result = ? ORDER BY seq", (outbox.SET_ASIDE,)
    ).fetchall()
    by_user: dict[str, SetAside] = {}
    for user_id, kind, attempts, error, at in rows:
        seen = by_user.get(user_id)
        if seen is None:
            by_user[user_id] = SetAside(user_id, (kind,), int(attempts), error or "", float(at))
        else:
            by_user[user_id] = SetAside(user_id, (*seen.kinds, kind), max(seen.tries, int(attempts)),
                                        error or seen.reason, max(seen.set_aside_at, float(at)))
    return sorted(by_user.values(), key=lambda e: e.set_aside_at, reverse=True)


def count(store: Store) -> int:
    """How many users have changes set aside."""
    return int(store.conn.execute(
        "SELECT COUNT(DISTINCT user_id) FROM outbox WHERE result = ?", (outbox.SET_ASIDE,)
    ).fetchone()[0])


def retry(store: Store, user_id: str) -> int:
    """Queue a user's set-aside changes again (after the cause was fixed); how many."""
    with db.transaction(store.conn, durable=True):
        cursor = store.conn.execute(
            "UPDATE outbox SET sent_at = NULL, result = NULL, attempts = 0 WHERE user_id = ? AND result = ?",
            (user_id, outbox.SET_ASIDE),
        )
        return cursor.rowcount

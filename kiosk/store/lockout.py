"""Failed attempts and lockouts, per email and per kiosk, with an injected clock.

Rules (``lockout`` in config):
* ``max_failures`` failed password or face attempts for one email within ``window_s``
  lock that email for ``lockout_s``;
* ``kiosk_max_failures`` failures on this kiosk, whatever the email, lock the whole kiosk
  for ``lockout_s`` (someone walking through a list of addresses);
* when a lockout ends the failures that caused it no longer count: the person gets a
  fresh set of tries, not one more;
* a successful sign-in clears that email's failures (not the kiosk's: one valid
  account must not reset a kiosk-wide guessing run).

Attempts are stored in the database (a power cycle must not reset the count) and purged
once they are older than the window. They hold the email's comparison key, never the
password. The clock is the store's fleet time (kiosk/store/clock.py: the server's time
carried on the monotonic clock), so a step of the system clock neither extends nor clears
a lock; a remaining time is never reported as longer than ``lockout_s``. This is the
per-kiosk throttle; the fleet-wide limits per account are in limits.py.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import Callable, ContextManager

from kiosk.config.store import LockoutSettings
from kiosk.store.db import transaction

EMAIL = "email"
KIOSK = "kiosk"
FACE = "face"
PASSWORD = "password"


@dataclass(frozen=True)
class LockStatus:
    locked: bool
    scope: str | None  # EMAIL or KIOSK when locked
    remaining_s: float  # 0.0 when not locked
    failures: int  # failures counted against this email now
    attempts_left: int  # before this email is locked (0 when locked)

    def message(self) -> str:
        """What the UI tells the person."""
        if not self.locked:
            return ""
        minutes = max(1, int(-(-self.remaining_s // 60)))
        unit = "minute" if minutes == 1 else "minutes"
        if self.scope == KIOSK:
            return f"Too many failed attempts on this kiosk. Try again in {minutes} {unit}."
        return f"Too many failed attempts for this email. Try again in {minutes} {unit}."


class Lockout:
    def __init__(self, conn: sqlite3.Connection, settings: LockoutSettings, kiosk_id: str, clock: Callable[[], float],
                 subject_of: Callable[[str], str] | None = None) -> None:
        """``subject_of``: what is stored for an email key (the store passes the audit log's
        keyed hash, so an address typed at a failed attempt is never kept in clear)."""
        self.conn = conn
        self.settings = settings
        self.kiosk_id = kiosk_id
        self.clock = clock
        self.subject = subject_of or (lambda key: key)

    def _tx(self) -> ContextManager[object]:
        return contextlib.nullcontext() if self.conn.in_transaction else transaction(self.conn, durable=True)

    def _lock(self, scope: str, subject: str) -> tuple[float, float, int] | None:
        row = self.conn.execute(
            "SELECT locked_at, until, after_attempt FROM lockouts WHERE scope = ? AND subject = ?", (scope, subject)
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]), int(row[2]))

    def _count(self, scope: str, subject: str, now: float) -> int:
        lock = self._lock(scope, subject)
        after = lock[2] if lock else 0
        column = "subject" if scope == EMAIL else "kiosk_id"
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM attempts WHERE {column} = ? AND at > ? AND id > ?",
            (subject, now - self.settings.window_s, after),
        ).fetchone()
        return int(row[0])

    def _remaining(self, scope: str, subject: str, now: float) -> float:
        lock = self._lock(scope, subject)
        if lock is None or lock[1] <= now:
            return 0.0
        return min(lock[1] - now, self.settings.lockout_s)

    def status(self, subject: str) -> LockStatus:
        """Whether ``subject`` (an email key) may try now, and for how long it may not."""
        subject = self.subject(subject)
        now = self.clock()
        email_left = self._remaining(EMAIL, subject, now)
        kiosk_left = self._remaining(KIOSK, self.kiosk_id, now)
        failures = self._count(EMAIL, subject, now) if email_left == 0.0 else self.settings.max_failures
        if email_left or kiosk_left:
            scope = EMAIL if email_left >= kiosk_left else KIOSK
            return LockStatus(True, scope, max(email_left, kiosk_left), failures, 0)
        return LockStatus(False, None, 0.0, failures, max(0, self.settings.max_failures - failures))

    def record_failure(self, subject: str, kind: str) -> LockStatus:
        """Count one failed ``kind`` (FACE or PASSWORD) attempt; returns the status after it."""
        key_of_email, subject = subject, self.subject(subject)
        now = self.clock()
        with self._tx():
            attempt = self.conn.execute(
                "INSERT INTO attempts (at, kiosk_id, subject, kind) VALUES (?, ?, ?, ?)", (now, self.kiosk_id, subject, kind)
            ).lastrowid
            assert attempt is not None
            for scope, key, limit in ((EMAIL, subject, self.settings.max_failures), (KIOSK, self.kiosk_id, self.settings.kiosk_max_failures)):
                if self._count(scope, key, now) >= limit:
                    self.conn.execute(
                        "INSERT OR REPLACE INTO lockouts (scope, subject, locked_at, until, after_attempt) VALUES (?, ?, ?, ?, ?)",
                        (scope, key, now, now + self.settings.lockout_s, attempt),
                    )
            self._purge(now)
        return self.status(key_of_email)

    def record_success(self, subject: str) -> None:
        with self._tx():
            self.conn.execute("DELETE FROM attempts WHERE subject = ?", (self.subject(subject),))

    def unlock(self, subject: str) -> None:
        """An administrator ends the email's lock and clears its failures (caller's transaction)."""
        subject = self.subject(subject)
        self.conn.execute("DELETE FROM attempts WHERE subject = ?", (subject,))
        self.conn.execute("DELETE FROM lockouts WHERE scope = ? AND subject = ?", (EMAIL, subject))

    def _purge(self, now: float) -> None:
        self.conn.execute("DELETE FROM attempts WHERE at <= ?", (now - self.settings.window_s,))
        self.conn.execute("DELETE FROM lockouts WHERE until <= ?", (now - self.settings.window_s,))

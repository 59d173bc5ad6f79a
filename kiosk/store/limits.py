"""Fleet-wide attempt limits per account, merged from every kiosk's ledger.

Each kiosk records, per account (user id), its failed face and password attempts and the
successes and unlocks that clear them (``account_events``, kiosk_id '' for this kiosk),
and pushes that ledger, signed, to the cloud (kiosk/sync); the other kiosks' ledgers are
merged into the same table. The policy over the merged events, on fleet time
(kiosk/store/clock.py, so a step of the system clock changes nothing):

* **Face:** after ``lockout.face_free_tries`` consecutive failed face attempts on an
  account (at any kiosks), each further try waits ``face_wait_s * 2**(n - free)`` after the
  last failure, at most ``face_wait_max_s``. A successful face sign-in or reset, or an
  administrator's unlock, clears them.
* **Password:** after ``lockout.password_max_failures`` failed password attempts since the
  last success, the account's password is locked until a successful face reset or
  ``facekiosk users unlock``; a correct password before that clears the count.
* **Emailed confirmation code:** the code travels with the user record, so it can be typed
  at every kiosk. After ``mail.code_max_tries`` wrong codes for the account since its
  newest code was sent (at any kiosks), every kiosk refuses codes for it, the right one
  too, until a new code is sent or an administrator's unlock; the code also expires after
  ``mail.code_lifetime_s``. So a fleet of N kiosks allows ``code_max_tries`` guesses of a
  code, not ``code_max_tries`` x N. A new code does not start the guessing afresh: once
  the account has had ``code_max_tries`` wrong codes within a day (of any of its codes,
  since an unlock), each further code check waits after the last wrong one as face
  attempts do (``lockout.face_wait_s`` doubling to ``face_wait_max_s``), so asking for
  code after code (a password sign-in sends one) buys 15 guesses a day, not 17,280
  (tests/test_fleet_limits.py). A reset code never leaves the kiosk that sent it: its
  wrong tries are counted there, and fleet-wide as failed face attempts, whose wait stops
  every kiosk sending or checking one (kiosk/flows/accounts.py).

What an offline kiosk knows: its own attempts and what it merged before it went offline;
another kiosk's attempts meanwhile count there only once both have synced (so during a
network split each side allows its own tries: at most twice the free tries, then each
side's waits). The per-kiosk throttle (lockout.py), and each kiosk's own count of a code's
wrong tries (kiosk/store/mail.py), keep working offline.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Iterable

from kiosk.config.store import LockoutSettings
from kiosk.store.clock import FleetClock

FACE_FAIL = "face"
PASSWORD_FAIL = "password"
FACE_OK = "face_ok"  # clears face and password failures (the face reset)
PASSWORD_OK = "password_ok"  # clears password failures
UNLOCK = "unlock"  # an administrator: clears all
CODE_FAIL = "code"  # a wrong emailed confirmation code
CODE_SENT = "code_sent"  # a new confirmation code was sent: clears the wrong codes
KINDS = (FACE_FAIL, PASSWORD_FAIL, FACE_OK, PASSWORD_OK, UNLOCK, CODE_FAIL, CODE_SENT)
_CODES = {FACE_FAIL: "f", PASSWORD_FAIL: "p", FACE_OK: "F", PASSWORD_OK: "P", UNLOCK: "U", CODE_FAIL: "c", CODE_SENT: "C"}
_KINDS_BY_CODE = {code: kind for kind, code in _CODES.items()}
HERE = ""  # kiosk_id of this kiosk's own events
MAX_EVENTS = 256  # per ledger: more failures than the limits need are never kept
CODE_WINDOW_MS = 86_400_000  # wrong codes count towards the wait for a day


class LedgerError(ValueError):
    """A ledger from the cloud that is not one (quarantined by the caller)."""


@dataclass(frozen=True)
class AccountStatus:
    face_failures: int  # consecutive, fleet-wide
    face_wait_s: float  # until the next face try is allowed (0: now)
    password_failures: int
    password_locked: bool
    code_failures: int = 0  # wrong confirmation codes since the newest was sent, fleet-wide
    code_locked: bool = False  # codes refused until a new one is sent
    code_wait_s: float = 0.0  # until the next code may be checked (0: now)


def encode_events(events: Iterable[tuple[str, int]]) -> str:
    return ",".join(f"{_CODES[kind]}{at_ms}" for kind, at_ms in events)


def decode_events(text: object) -> list[tuple[str, int]]:
    if not isinstance(text, str) or len(text) > MAX_EVENTS * 18:
        raise LedgerError("the events are not text of a ledger's size")
    if not text:
        return []
    out = []
    for item in text.split(","):
        letter = item[:1]
        if not (letter.isascii() and letter.isalpha()) or not item[1:].isdigit() or len(item) > 17:
            raise LedgerError("an event is not <code><ms>")
        kind = _KINDS_BY_CODE.get(letter)
        if kind is not None:  # a kind a later release added counts for nothing here
            out.append((kind, int(item[1:])))
    if len(out) > MAX_EVENTS:
        raise LedgerError("too many events")
    return out


class AccountLimits:
    def __init__(self, conn: sqlite3.Connection, settings: LockoutSettings, clock: FleetClock, code_max_tries: int = 5) -> None:
        self.conn = conn
        self.settings = settings
        self.clock = clock
        self.code_max_tries = code_max_tries  # mail.code_max_tries: wrong codes, fleet-wide, per code sent

    # -- recording (caller's transaction) ---------------------------------------------

    def record(self, user_id: str, kind: str) -> None:
        at = self.clock.now_ms()
        latest = self.conn.execute("SELECT MAX(at_ms) FROM account_events WHERE user_id = ?", (user_id,)).fetchone()[0]
        if latest is not None:
            at = max(at, int(latest) + 1)  # after what it follows, even within one ms
        while self.conn.execute(
            "INSERT OR IGNORE INTO account_events (user_id, kiosk_id, kind, at_ms) VALUES (?, ?, ?, ?)", (user_id, HERE, kind, at)
        ).rowcount == 0:
            at += 1
        self.conn.execute("INSERT OR IGNORE INTO account_dirty (user_id) VALUES (?)", (user_id,))
        self._trim(user_id)

    def _clears(self, user_id: str) -> tuple[int, int]:
        face, password = self.conn.execute(
            "SELECT MAX(CASE WHEN kind IN (?, ?) THEN at_ms END), MAX(at_ms) FROM account_events "
            "WHERE user_id = ? AND kind IN (?, ?, ?)",
            (FACE_OK, UNLOCK, user_id, FACE_OK, PASSWORD_OK, UNLOCK),
        ).fetchone()
        return int(face or 0), int(password or 0)

    def _code_clear(self, user_id: str) -> int:
        """Wrong codes before this no longer count against the newest code."""
        row = self.conn.execute(
            "SELECT MAX(at_ms) FROM account_events WHERE user_id = ? AND kind IN (?, ?)", (user_id, CODE_SENT, UNLOCK)
        ).fetchone()
        return int(row[0] or 0)

    def _code_window(self, user_id: str) -> int:
        """Wrong codes before this no longer count towards the wait (a day, or an unlock)."""
        row = self.conn.execute("SELECT MAX(at_ms) FROM account_events WHERE user_id = ? AND kind = ?", (user_id, UNLOCK)).fetchone()
        return max(int(row[0] or 0), self.clock.now_ms() - CODE_WINDOW_MS)

    def _trim(self, user_id: str) -> None:
        """Failures before the clear that ended them, and all but each kiosk's latest clear
        of a kind, no longer matter."""
        face, password = self._clears(user_id)
        self.conn.execute(
            "DELETE FROM account_events WHERE user_id = ? AND ((kind = ? AND at_ms < ?) OR (kind = ? AND at_ms < ?) "
            "OR (kind = ? AND at_ms < ?))",
            (user_id, FACE_FAIL, face, PASSWORD_FAIL, password, CODE_FAIL, self._code_window(user_id)),
        )
        self.conn.execute(
            "DELETE FROM account_events WHERE user_id = ? AND kind IN (?, ?, ?, ?) AND at_ms < "
            "(SELECT MAX(at_ms) FROM account_events AS e WHERE e.user_id = account_events.user_id "
            "AND e.kiosk_id = account_events.kiosk_id AND e.kind = account_events.kind)",
            (user_id, FACE_OK, PASSWORD_OK, UNLOCK, CODE_SENT),
        )

    def forget(self, user_id: str) -> None:
        """The account is erased: so are its attempts (caller's transaction)."""
        self.conn.execute("DELETE FROM account_events WHERE user_id = ?", (user_id,))
        self.conn.execute("DELETE FROM account_dirty WHERE user_id = ?", (user_id,))

    # -- the policy ----------------------------------------------------------------------

    def status(self, user_id: str) -> AccountStatus:
        face_clear, password_clear = self._clears(user_id)
        faces, last = self.conn.execute(
            "SELECT COUNT(*), MAX(at_ms) FROM account_events WHERE user_id = ? AND kind = ? AND at_ms > ?",
            (user_id, FACE_FAIL, face_clear),
        ).fetchone()
        passwords = self.conn.execute(
            "SELECT COUNT(*) FROM account_events WHERE user_id = ? AND kind = ? AND at_ms > ?",
            (user_id, PASSWORD_FAIL, password_clear),
        ).fetchone()[0]
        codes = int(self.conn.execute(
            "SELECT COUNT(*) FROM account_events WHERE user_id = ? AND kind = ? AND at_ms > ?",
            (user_id, CODE_FAIL, self._code_clear(user_id)),
        ).fetchone()[0])
        recent, last_code = self.conn.execute(
            "SELECT COUNT(*), MAX(at_ms) FROM account_events WHERE user_id = ? AND kind = ? AND at_ms >= ?",
            (user_id, CODE_FAIL, self._code_window(user_id)),
        ).fetchone()
        s = self.settings
        wait = self._wait_s(int(faces), s.face_free_tries, last)
        code_wait = self._wait_s(int(recent), self.code_max_tries, last_code)
        return AccountStatus(int(faces), wait, int(passwords), int(passwords) >= s.password_max_failures,
                             codes, codes >= self.code_max_tries, code_wait)

    def _wait_s(self, failures: int, free: int, last_ms: int | None) -> float:
        """Seconds until the next try after ``failures`` (the last at ``last_ms``), of which
        ``free`` cost nothing: ``lockout.face_wait_s`` doubling per further failure, up to
        ``face_wait_max_s``, counted from the last one."""
        s = self.settings
        if failures < free or last_ms is None:
            return 0.0
        step = min(float(s.face_wait_max_s), s.face_wait_s * 2.0 ** min(64, failures - free))
        return max(0.0, min(step, (last_ms + step * 1000 - self.clock.now_ms()) / 1000.0))

    # -- the ledger in the cloud -----------------------------------------------------------

    def dirty(self, limit: int = 100) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT user_id FROM account_dirty LIMIT ?", (limit,))]

    def ledger(self, user_id: str) -> list[tuple[str, int]]:
        """This kiosk's events of an account that still matter, oldest first."""
        rows = self.conn.execute(
            "SELECT kind, at_ms FROM account_events WHERE user_id = ? AND kiosk_id = ? ORDER BY at_ms", (user_id, HERE)
        ).fetchall()
        return [(str(kind), int(at)) for kind, at in rows][-MAX_EVENTS:]

    def events(self, user_id: str) -> list[tuple[str, str, int]]:
        """Every event kept on an account, this kiosk's and the fleet's: (kiosk id, "" for
        this kiosk; kind; fleet time in ms), oldest first (``users export``)."""
        rows = self.conn.execute(
            "SELECT kiosk_id, kind, at_ms FROM account_events WHERE user_id = ? ORDER BY at_ms, kiosk_id", (user_id,)
        ).fetchall()
        return [(str(kiosk), str(kind), int(at)) for kiosk, kind, at in rows]

    def pushed(self, user_id: str, upto_ms: int) -> None:
        """The ledger up to ``upto_ms`` is in the cloud (caller's transaction)."""
        self.conn.execute(
            "DELETE FROM account_dirty WHERE user_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM account_events WHERE user_id = ? AND kiosk_id = ? AND at_ms > ?)",
            (user_id, user_id, HERE, upto_ms),
        )

    def merge(self, user_id: str, kiosk_id: str, events: list[tuple[str, int]]) -> None:
        """Another kiosk's ledger of an account replaces what was known of it."""
        if not kiosk_id:
            raise LedgerError("a ledger without its kiosk")
        self.conn.execute("DELETE FROM account_events WHERE user_id = ? AND kiosk_id = ?", (user_id, kiosk_id))
        self.conn.executemany(
            "INSERT OR IGNORE INTO account_events (user_id, kiosk_id, kind, at_ms) VALUES (?, ?, ?, ?)",
            [(user_id, kiosk_id, kind, at) for kind, at in events],
        )
        self._trim(user_id)


# -- the pull cursor of /attempts (meta row, per database) -------------------------------------

_CURSOR_KEY = "attempts_cursor"


def load_cursor(conn: sqlite3.Connection, database: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_CURSOR_KEY,)).fetchone()
    if row is None:
        return 0
    data = json.loads(bytes(row[0]))
    return int(data.get("seen_ms", 0)) if data.get("database") == database else 0


def save_cursor(conn: sqlite3.Connection, database: str, seen_ms: int) -> None:
    value = json.dumps({"database": database, "seen_ms": int(seen_ms)}).encode()
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_CURSOR_KEY, value))

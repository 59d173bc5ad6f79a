"""Cloud records sync refused to apply: kept aside for review, never applied.

A record is quarantined when its signature does not chain to the fleet root (unknown,
revoked or expired writer, bad or missing signature), when it is malformed (schema, sizes,
template count or length, timestamps), or when the store cannot use it. Each distinct
record (user id + a digest of its JSON) is one row; seeing it again (each catch-up reads
a far-future record again) only bumps ``times`` and ``last_seen``.

The table is created on first use rather than by a numbered migration (kiosk/store/db.py),
so it can be added without renumbering the schema; it holds no state the rest of the store
depends on. At most ``MAX_ROWS`` rows are kept (the oldest by ``last_seen`` go first), so a
flood of bad records cannot fill the disk. ``record`` keeps the first ``MAX_RECORD_CHARS``
characters of the JSON: enough to review, not a second copy of a flood.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kiosk.store import db
from kiosk.store.service import Store

MAX_ROWS = 10_000
MAX_RECORD_CHARS = 65_536

_SCHEMA = """CREATE TABLE IF NOT EXISTS sync_quarantine (
    user_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    writer TEXT NOT NULL,
    reason TEXT NOT NULL,
    updated_at_ms INTEGER,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    times INTEGER NOT NULL DEFAULT 1,
    record TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
)"""


@dataclass(frozen=True)
class Refused:
    """One record to quarantine, as the sync engine found it."""

    user_id: str
    writer: str  # the writer it claims ("?" when it names none)
    reason: str  # one line, never an email address
    record: Any  # the raw JSON value
    updated_at_ms: int | None = None


@dataclass(frozen=True)
class Entry:
    user_id: str
    writer: str
    reason: str
    updated_at_ms: int | None
    first_seen: float
    last_seen: float
    times: int
    record: str


def _exists(store: Store) -> bool:
    return store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_quarantine'").fetchone() is not None


def _digest(record: Any) -> str:
    try:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        text = repr(record)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _text(record: Any) -> str:
    try:
        text = json.dumps(record, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(record)
    return text[:MAX_RECORD_CHARS]


def add(store: Store, refused: list[Refused]) -> list[Refused]:
    """Quarantine ``refused`` (one transaction); returns those not seen before (to log)."""
    if not refused:
        return []
    now = store.clock()
    new: list[Refused] = []
    conn = store.conn
    with db.transaction(conn):
        conn.execute(_SCHEMA)
        for item in refused:
            digest = _digest(item.record)
            updated = item.updated_at_ms if item.updated_at_ms is not None and 0 <= item.updated_at_ms < 2**63 else None
            cursor = conn.execute(
                "UPDATE sync_quarantine SET times = times + 1, last_seen = ? WHERE user_id = ? AND digest = ?",
                (now, item.user_id[:200], digest),
            )
            if cursor.rowcount:
                continue
            conn.execute(
                "INSERT INTO sync_quarantine (user_id, digest, writer, reason, updated_at_ms, first_seen, last_seen, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.user_id[:200], digest, item.writer[:200], item.reason[:1000], updated, now, now, _text(item.record)),
            )
            new.append(item)
        conn.execute(
            "DELETE FROM sync_quarantine WHERE rowid IN (SELECT rowid FROM sync_quarantine ORDER BY last_seen DESC LIMIT -1 OFFSET ?)",
            (MAX_ROWS,),
        )
    return new


def count(store: Store) -> int:
    """How many records are quarantined (0 before the first)."""
    if not _exists(store):
        return 0
    return int(store.conn.execute("SELECT COUNT(*) FROM sync_quarantine").fetchone()[0])


def entries(store: Store, limit: int = 1000) -> list[Entry]:
    """The quarantined records, the most recently seen first."""
    if not _exists(store):
        return []
    rows = store.conn.execute(
        "SELECT user_id, writer, reason, updated_at_ms, first_seen, last_seen, times, record FROM sync_quarantine "
        "ORDER BY last_seen DESC, user_id LIMIT ?",
        (limit,),
    ).fetchall()
    return [Entry(*row) for row in rows]


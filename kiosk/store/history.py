"""The signed versions of each user record this kiosk applied or pushed (``record_history``).

Each row is one version exactly as its writer signed it (the JSON of ``/users/{uid}``
without the server's ``updatedAt``), so it can be checked again and re-published with its
own signature (``kiosk/fleet/rollback.py``: a revoked kiosk's change rolled back to the
last version a trusted kiosk signed). Per user the newest ``keep`` versions stay, and
beyond them each writer's newest: a kiosk that writes many versions of one person cannot
push the versions of the others out. A deletion erases the user's history with the rest
of their data (the erasure promise wins over rolling a deletion back).

Functions take an open connection and never commit (the caller's transaction).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Version:
    id: int
    user_id: str
    change_id: str
    revision: int
    writer: str
    signed_at_ms: int | None
    record: dict[str, Any]  # as signed, without updatedAt
    kept_at: float


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def keep(conn: sqlite3.Connection, user_id: str, record: dict[str, Any], revision: int, now: float, limit: int) -> None:
    """Keep ``record`` (a signed version, ``revision`` its effective revision) and prune."""
    body = {name: value for name, value in record.items() if name != "updatedAt"}
    change_id = body.get("changeId")
    writer = body.get("writer")
    if not isinstance(change_id, str) or not isinstance(writer, str):
        return  # not a signed record (nothing to restore from)
    conn.execute(
        "INSERT OR IGNORE INTO record_history (user_id, change_id, revision, writer, signed_at, record, kept_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, change_id, revision, writer, _int(body.get("signedAt")),
         json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")), now),
    )
    conn.execute(
        "DELETE FROM record_history WHERE user_id = ? AND id NOT IN ("
        " SELECT id FROM record_history WHERE user_id = ? ORDER BY id DESC LIMIT ?)"
        " AND id NOT IN (SELECT MAX(id) FROM record_history WHERE user_id = ? GROUP BY writer)",
        (user_id, user_id, max(1, limit), user_id),
    )


def versions(conn: sqlite3.Connection, user_id: str) -> list[Version]:
    """The kept versions of a user, newest first."""
    rows = conn.execute(
        "SELECT id, user_id, change_id, revision, writer, signed_at, record, kept_at FROM record_history "
        "WHERE user_id = ? ORDER BY id DESC",
        (user_id,),
    ).fetchall()
    return [Version(r[0], r[1], r[2], int(r[3]), r[4], r[5], json.loads(r[6]), float(r[7])) for r in rows]


def erase(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM record_history WHERE user_id = ?", (user_id,))


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM record_history").fetchone()[0])

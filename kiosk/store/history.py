"""The signed versions of each user record this kiosk applied or pushed (``record_history``).

Each row is one version exactly as its writer signed it (the JSON of ``/users/{uid}``
without the server's ``updatedAt``), so it can be checked again and re-published with its
own signature (``kiosk/fleet/rollback.py``: a revoked kiosk's change rolled back to the
last version a trusted kiosk signed). Per user the newest ``keep`` versions stay, and
beyond them each writer's newest: a kiosk that writes many versions of one person cannot
push the versions of the others out. A deletion erases the user's history with the rest
of their data (the erasure promise wins over rolling a deletion back).

A version's templates are not copied while they are the user's current ones (most users
have one version, so this would double the database): each template text is kept as
``=<32 hex digits of its SHA-256>`` and the row is marked ``"$live": true`` (``$`` cannot
occur in a record's keys). ``materialize`` writes the texts in from the templates table
before the user's templates change (re-enrollment, a pulled version with other templates,
a template upgrade, re-sealing after a key rotation); reading a version fills them the
same way. A text is only ever filled from a blob whose base64 has that digest, so a
version whose templates went without being materialized is incomplete, never wrong: its
signature no longer verifies and ``fleet rollback`` passes over it.

Functions take an open connection and never commit (the caller's transaction).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

LIVE = "$live"


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


def _digest(text: str) -> str:
    return "=" + hashlib.sha256(text.encode("ascii", "replace")).hexdigest()[:32]


def _map_templates(body: dict[str, Any], change: Callable[[str, str], str]) -> dict[str, Any]:
    """``body`` with each template text replaced by ``change(template id, text)``."""
    out = dict(body)
    if isinstance(out.get("templates"), dict):
        out["templates"] = {tid: change(tid, text) if isinstance(text, str) else text for tid, text in out["templates"].items()}
    if isinstance(out.get("faces"), dict):
        faces = {}
        for key, entry in out["faces"].items():
            if isinstance(entry, dict) and isinstance(entry.get("templates"), dict):
                entry = {**entry, "templates": {tid: change(tid, text) if isinstance(text, str) else text
                                                for tid, text in entry["templates"].items()}}
            faces[key] = entry
        out["faces"] = faces
    return out


def _current_texts(conn: sqlite3.Connection, user_id: str) -> dict[str, str]:
    rows = conn.execute("SELECT id, blob FROM templates WHERE user_id = ?", (user_id,)).fetchall()
    return {str(tid): base64.b64encode(bytes(blob)).decode("ascii") for tid, blob in rows}


def _strip(conn: sqlite3.Connection, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The templates that are the user's current ones as their digests (marked LIVE)."""
    current = _current_texts(conn, user_id)
    stripped = False

    def change(tid: str, text: str) -> str:
        nonlocal stripped
        if current.get(tid) == text:
            stripped = True
            return _digest(text)
        return text

    out = _map_templates(body, change)
    return {**out, LIVE: True} if stripped else body


def _fill(current: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its digests filled from ``current`` (the user's templates,
    :func:`_current_texts`); still marked LIVE if any digest is left."""
    if not body.get(LIVE):
        return body
    left = False

    def change(tid: str, text: str) -> str:
        nonlocal left
        if not text.startswith("="):
            return text
        found = current.get(tid)
        if found is not None and _digest(found) == text:
            return found
        left = True
        return text

    out = _map_templates({k: v for k, v in body.items() if k != LIVE}, change)
    return {**out, LIVE: True} if left else out


def materialize(conn: sqlite3.Connection, user_id: str) -> None:
    """Copy the user's current templates into the versions that share them: call before
    the templates change (caller's transaction)."""
    rows = conn.execute(
        "SELECT id, record FROM record_history WHERE user_id = ? AND record LIKE ?", (user_id, f'%"{LIVE}"%')
    ).fetchall()
    current = _current_texts(conn, user_id) if rows else {}
    for row_id, text in rows:
        filled = _fill(current, json.loads(text))
        conn.execute("UPDATE record_history SET record = ? WHERE id = ?", (_dump(filled), row_id))


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def keep(conn: sqlite3.Connection, user_id: str, record: dict[str, Any], revision: int, now: float, limit: int) -> None:
    """Keep ``record`` (a signed version, ``revision`` its effective revision) and prune.
    Call once the user's templates are the version's (applied or pushed)."""
    body = {name: value for name, value in record.items() if name != "updatedAt"}
    change_id = body.get("changeId")
    writer = body.get("writer")
    if not isinstance(change_id, str) or not isinstance(writer, str):
        return  # not a signed record (nothing to restore from)
    conn.execute(
        "INSERT OR IGNORE INTO record_history (user_id, change_id, revision, writer, signed_at, record, kept_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, change_id, revision, writer, _int(body.get("signedAt")), _dump(_strip(conn, user_id, body)), now),
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
    current = _current_texts(conn, user_id) if rows else {}
    return [Version(r[0], r[1], r[2], int(r[3]), r[4], r[5], _fill(current, json.loads(r[6])), float(r[7])) for r in rows]


def erase(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM record_history WHERE user_id = ?", (user_id,))


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM record_history").fetchone()[0])

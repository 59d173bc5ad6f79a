"""A look at the database file for ``facekiosk doctor``: without the template key, and
without ``Store.open``'s first-use writes (kiosk id, key check value, audit purge).

Opening still migrates an older schema, as every opening does (see :func:`db.connect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kiosk.store import db, users


@dataclass(frozen=True)
class FileHealth:
    integrity: str  # "ok", or SQLite's first findings
    users: int  # live accounts
    schema_version: int


def check_file(path: Path) -> FileHealth:
    """Open the existing database at ``path`` and check it.

    StoreError if it cannot be opened or is unusable; a damaged file can also raise
    ``sqlite3.DatabaseError`` from the checks themselves.
    """
    conn = db.connect(path, create=False)
    try:
        integrity = db.integrity_check(conn)
        count = users.count_users(conn)
        version = db.schema_version(conn)
    finally:
        conn.close()
    return FileHealth(integrity, count, version)

"""Whether a template key is the one a store's database was created with (sync compares
the fleet's key, unsealed from the database, with the local one)."""

from __future__ import annotations

from kiosk.store.service import Store
from kiosk.store.templates import key_matches


def template_key_matches(store: Store, key: bytes) -> bool:
    row = store.conn.execute("SELECT value FROM meta WHERE key = 'template_key_check'").fetchone()
    return row is not None and key_matches(key, bytes(row[0]))

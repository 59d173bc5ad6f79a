"""Filling a database with many users at once, for ``benchmarks/store.py`` (100,000 users).

``Store.enroll`` hashes each password with argon2id (about 0.2 s by design) and commits
each user durably on its own: hours for a benchmark-sized table. Here every user shares
one hash made beforehand, and all of them are written in one transaction, as
``executemany`` batches. The rows are what enrollment writes (user, encrypted
templates, an outbox row), with the outbox rows already delivered, as on a kiosk whose
users all reached the cloud. Not used by the kiosk itself.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from kiosk.store import db, outbox
from kiosk.store.emails import Email
from kiosk.store.service import Store


@dataclass(frozen=True)
class NewUser:
    id: str
    email: Email  # normalised already (normalize_email costs ~0.1 ms: 10 s per 100,000)
    vectors: np.ndarray  # (templates, dim) float32, one row per template


def add_users(store: Store, batches: Iterable[Sequence[NewUser]], password_hash: str, model_id: str) -> int:
    """Write every batch's users in one durable transaction, then checkpoint the WAL so
    the file is complete on its own; returns how many users were written.

    Batches are consumed one at a time, so a caller can make each batch's vectors only
    when it is written."""
    conn, codec, now = store.conn, store.codec, store.clock()
    written = 0
    with db.transaction(conn, durable=True):
        for batch in batches:
            conn.executemany(
                "INSERT INTO users (id, email, email_key, password_hash, origin_kiosk, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(user.id, user.email.address, user.email.key, password_hash, store.kiosk_id, now, now) for user in batch],
            )
            conn.executemany(
                "INSERT INTO templates (id, user_id, model_id, dim, blob, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (str(uuid.uuid4()), user.id, model_id, int(vector.shape[0]), codec.encode(user.id, model_id, vector), now)
                    for user in batch
                    for vector in user.vectors
                ],
            )
            conn.executemany(
                "INSERT INTO outbox (user_id, kind, revision, created_at, sent_at, result) VALUES (?, ?, 1, ?, ?, ?)",
                [(user.id, outbox.ENROLL, now, now, outbox.SENT) for user in batch],
            )
            written += len(batch)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return written


def count_templates(path: Path, model_id: str) -> int:
    """Templates of ``model_id`` in the database at ``path``, read without opening a Store
    (no key, no migration, no write); -1 if there is no usable database there."""
    if not path.exists():
        return -1
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM templates WHERE model_id = ?", (model_id,)).fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()

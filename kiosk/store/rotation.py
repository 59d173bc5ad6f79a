"""Template key rotation on the kiosk (issue 13 item 6): the keys sync unsealed beside the
configured one, and re-sealing this kiosk's own users' templates under the current key.

The keys live in ``template-keys.json`` beside the database (mode 0600, written atomically):
``{"current": "k2", "keys": {"k2": "<base64 32 bytes>"}}``. The configured key file (often
a read-only systemd credential) is never rewritten; it keeps opening the blobs it sealed
until the administrator retires its key.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from pathlib import Path

from kiosk.durable import atomic_write
from kiosk.errors import StoreError
from kiosk.store import db, history, outbox, users
from kiosk.store.templates import KEY_BYTES, TemplateCodec, blob_key_id, key_number

KEYRING = "template-keys.json"


def keyring_path(db_file: Path | None) -> Path | None:
    if db_file is None or str(db_file) == ":memory:":
        return None
    return Path(db_file).parent / KEYRING


def load_keyring(codec: TemplateCodec, db_file: Path | None) -> None:
    """Add the keys sync stored earlier to ``codec`` and seal with their current one (only
    ever forward: a key number below the one in use is not taken back)."""
    path = keyring_path(db_file)
    if path is None or not path.exists() or not codec.encrypt:
        return
    try:
        data = json.loads(path.read_bytes())
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
        current = str(data["current"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, binascii.Error) as err:
        raise StoreError(f"cannot read the template keys sync stored in {path} ({err}): move it away; sync fetches them again") from None
    for key_id, key in keys.items():
        if len(key) != KEY_BYTES:
            raise StoreError(f"{path}: template key {key_id} is not {KEY_BYTES} bytes")
        if codec.key(key_id) is None:
            codec.add_key(key_id, key)
    now = codec.current_key_id
    if codec.key(current) is not None and (now is None or key_number(current) > key_number(now)):
        codec.use(current)


def watch_keyring(codec: TemplateCodec, db_file: Path | None) -> None:
    """Make ``codec`` read the key file again when sync changed it (the service's UI store
    and its sync engine's store are two connections, two codecs: one file)."""
    path = keyring_path(db_file)
    if path is None or not codec.encrypt:
        return
    seen: list[tuple[int, int] | None] = [None]

    def refresh() -> None:
        try:
            info = path.stat()
        except OSError:
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp != seen[0]:
            seen[0] = stamp
            load_keyring(codec, db_file)

    codec.refresh = refresh
    refresh()


def adopt(codec: TemplateCodec, db_file: Path | None, keys: dict[str, bytes], current: str, retired: set[str]) -> bool:
    """Hold ``keys`` beside the ones known, seal with ``current``, drop ``retired`` (never
    the current one); the keys sync brought are saved first. True if anything changed."""
    changed = False
    for key_id, key in sorted(keys.items()):
        if codec.key(key_id) is None:
            codec.add_key(key_id, key)
            changed = True
    path = keyring_path(db_file)
    if changed and path is not None:
        _save(codec, path, current, retired)
    if codec.current_key_id != current and codec.key(current) is not None:
        codec.use(current)
        changed = True
    for key_id in retired & set(codec.key_ids):
        if key_id != codec.current_key_id:
            codec.forget(key_id)
            changed = True
    if changed and path is not None:
        _save(codec, path, current, retired)
    return changed


def _save(codec: TemplateCodec, path: Path, current: str, retired: set[str]) -> None:
    keys = {k: codec.key(k) for k in codec.key_ids if k not in retired}
    body = {"current": current if current in keys else codec.current_key_id,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in keys.items() if v is not None}}
    atomic_write(path, (json.dumps(body, indent=2) + "\n").encode(), mode=0o600)


def stale_users(conn: sqlite3.Connection, codec: TemplateCodec, kiosk_id: str) -> list[str]:
    """This kiosk's own live users with a template not sealed under the current key."""
    rows = conn.execute(
        "SELECT DISTINCT t.user_id, t.blob FROM templates t JOIN users u ON u.id = t.user_id "
        "WHERE u.origin_kiosk = ? AND u.deleted_at IS NULL",
        (kiosk_id,),
    )
    return sorted({user for user, blob in rows if not codec.is_current(bytes(blob))})


def reseal_user(conn: sqlite3.Connection, codec: TemplateCodec, user_id: str, now: float) -> bool:
    """Seal one user's templates again under the current key, queued as an ordinary change
    (pushed signed like any other). Call inside a transaction; False if nothing was stale."""
    rows = conn.execute("SELECT id, model_id, blob FROM templates WHERE user_id = ?", (user_id,)).fetchall()
    stale = [(tid, model, bytes(blob)) for tid, model, blob in rows if not codec.is_current(bytes(blob))]
    if not stale:
        return False
    resealed = [(codec.reseal(user_id, model, blob), tid) for tid, model, blob in stale]
    revision = users._bump(conn, user_id, now)  # noqa: SLF001 - the revision bump every change makes
    history.materialize(conn, user_id)  # the kept versions still name the blobs before re-sealing
    conn.executemany("UPDATE templates SET blob = ? WHERE id = ?", resealed)
    outbox.add(conn, user_id, outbox.ENROLL, revision, now, {"reseal": codec.current_key_id})
    return True


def blobs_by_key(conn: sqlite3.Connection) -> dict[str, int]:
    """How many live templates each key sealed (plain ones under ''), for reports."""
    counts: dict[str, int] = {}
    for (blob,) in conn.execute("SELECT blob FROM templates"):
        key_id = blob_key_id(bytes(blob)) or ""
        counts[key_id] = counts.get(key_id, 0) + 1
    return counts

"""User rows and their templates: the data layer under :class:`kiosk.store.Store`.

Every change (enrollment, template replacement, password change, deletion) bumps the
user's revision and writes its outbox row in the caller's transaction. Functions here
take an open connection and never commit: the caller decides the transaction (see
``Store``), so a change and everything that belongs with it land together.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from kiosk.errors import ValidationError
from kiosk.store import history, outbox
from kiosk.store.emails import Email
from kiosk.store.errors import EmailTakenError, UnknownUserError
from kiosk.store.templates import TemplateCodec, as_template


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    model_id: str
    dim: int
    created_at: float


@dataclass(frozen=True)
class User:
    id: str
    email: str | None  # None for a tombstone
    email_key: str | None
    origin_kiosk: str
    created_at: float
    updated_at: float
    revision: int
    deleted_at: float | None
    remote_updated_at: float | None
    has_password: bool
    templates: tuple[TemplateInfo, ...]

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def model_ids(self) -> set[str]:
        return {t.model_id for t in self.templates}


_USER_COLUMNS = (
    "id, email, email_key, origin_kiosk, created_at, updated_at, revision, deleted_at, remote_updated_at, password_hash IS NOT NULL"
)


def _templates_of(conn: sqlite3.Connection, user_id: str) -> tuple[TemplateInfo, ...]:
    rows = conn.execute("SELECT id, model_id, dim, created_at FROM templates WHERE user_id = ? ORDER BY created_at, rowid", (user_id,))
    return tuple(TemplateInfo(*row) for row in rows)


def _user_of(row: tuple[Any, ...], templates: tuple[TemplateInfo, ...]) -> User:
    """A User from a row of _USER_COLUMNS and its templates."""
    (id_, email, email_key, origin, created, updated, revision, deleted, remote_updated, has_password) = row
    return User(id_, email, email_key, origin, created, updated, revision, deleted, remote_updated, bool(has_password), templates)


def _user(conn: sqlite3.Connection, row: tuple[Any, ...] | None) -> User | None:
    if row is None:
        return None
    return _user_of(row, _templates_of(conn, row[0]))


def get_user(conn: sqlite3.Connection, user_id: str, include_deleted: bool = False) -> User | None:
    sql = f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?" + ("" if include_deleted else " AND deleted_at IS NULL")
    return _user(conn, conn.execute(sql, (user_id,)).fetchone())


def find_user(conn: sqlite3.Connection, email: Email) -> User | None:
    """The live user with this email (compared by key), or None."""
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE email_key = ?", (email.key,)).fetchone()
    return _user(conn, row)


def require_user(conn: sqlite3.Connection, email: Email) -> User:
    user = find_user(conn, email)
    if user is None:
        raise UnknownUserError(f"no account with the email {email.address}")
    return user


def count_users(conn: sqlite3.Connection) -> int:
    """Live users (tombstones are not counted)."""
    return int(conn.execute("SELECT COUNT(*) FROM users WHERE deleted_at IS NULL").fetchone()[0])


def list_users(conn: sqlite3.Connection, include_deleted: bool = False) -> list[User]:
    sql = f"SELECT {_USER_COLUMNS} FROM users" + ("" if include_deleted else " WHERE deleted_at IS NULL") + " ORDER BY created_at, id"
    templates: dict[str, list[TemplateInfo]] = {}
    for user_id, *info in conn.execute("SELECT user_id, id, model_id, dim, created_at FROM templates ORDER BY created_at, rowid"):
        templates.setdefault(user_id, []).append(TemplateInfo(*info))
    return [
        _user_of(row, tuple(templates.get(row[0], ())))
        for row in conn.execute(sql).fetchall()
    ]


def password_hash(conn: sqlite3.Connection, user_id: str) -> str | None:
    row = conn.execute("SELECT password_hash FROM users WHERE id = ? AND deleted_at IS NULL", (user_id,)).fetchone()
    return row[0] if row else None


def check_user_id(user_id: str) -> str:
    try:
        parsed = uuid.UUID(user_id)
    except (ValueError, TypeError, AttributeError):
        raise ValidationError(f"user id {user_id!r} is not a UUID") from None
    return str(parsed)


def check_templates(templates: Sequence[object]) -> list[np.ndarray]:
    vectors = [as_template(t) for t in templates]
    if not vectors:
        raise ValidationError("enrollment needs at least one face template")
    if len({v.shape[0] for v in vectors}) != 1:
        raise ValidationError("face templates of one enrollment must all have the same length")
    return vectors


def _insert_templates(conn: sqlite3.Connection, codec: TemplateCodec, user_id: str, model_id: str, vectors: Sequence[np.ndarray], now: float) -> None:
    conn.executemany(
        "INSERT INTO templates (id, user_id, model_id, dim, blob, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(str(uuid.uuid4()), user_id, model_id, int(v.shape[0]), codec.encode(user_id, model_id, v), now) for v in vectors],
    )


def insert_user(
    conn: sqlite3.Connection,
    codec: TemplateCodec,
    *,
    user_id: str,
    email: Email,
    password_hash: str,
    model_id: str,
    vectors: Sequence[np.ndarray],
    kiosk_id: str,
    now: float,
    more: Mapping[str, Sequence[np.ndarray]] | None = None,
    held: bool = False,
) -> None:
    """A new user, its templates (``model_id``'s and ``more`` other models') and its
    ENROLL outbox row (caller's transaction). ``held``: the templates go to the review
    stash instead (:func:`hold_templates`), the account has no face until approved."""
    if not model_id:
        raise ValidationError("face templates need the id of the model that made them")
    try:
        conn.execute(
            "INSERT INTO users (id, email, email_key, password_hash, origin_kiosk, created_at, updated_at, revision) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (user_id, email.address, email.key, password_hash, kiosk_id, now, now),
        )
    except sqlite3.IntegrityError as err:
        if "email_key" in str(err):
            raise EmailTakenError(f"the email {email.address} is already registered") from None
        raise ValidationError(f"user id {user_id} already exists") from None
    every = {model_id: vectors, **(more or {})}
    if held:
        outbox.add(conn, user_id, outbox.ENROLL, 1, now, {"model_id": "", "templates": 0})
        return
    for model, rows in every.items():
        _insert_templates(conn, codec, user_id, model, rows, now)
    outbox.add(conn, user_id, outbox.ENROLL, 1, now, {"model_id": model_id, "templates": len(vectors)})


def hold_templates(
    conn: sqlite3.Connection, codec: TemplateCodec, user_id: str, templates: Mapping[str, Sequence[np.ndarray]],
    now: float, other_user: str | None, score: float | None,
) -> None:
    """Keep an enrollment's templates aside for staff review (sealed like templates)."""
    conn.executemany(
        "INSERT INTO review_templates (id, user_id, model_id, dim, blob, created_at, other_user, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(str(uuid.uuid4()), user_id, model, int(v.shape[0]), codec.encode(user_id, model, v), now, other_user, score)
         for model, rows in templates.items() for v in rows],
    )


def held_users(conn: sqlite3.Connection) -> list[tuple[str, str | None, float | None, float]]:
    """(user id, the account it looked like, score, when) of every enrollment held for review."""
    rows = conn.execute(
        "SELECT user_id, MAX(other_user), MIN(score), MIN(created_at) FROM review_templates GROUP BY user_id ORDER BY MIN(created_at)"
    ).fetchall()
    return [(str(r[0]), r[1], r[2], float(r[3])) for r in rows]


def release_templates(conn: sqlite3.Connection, user_id: str, approve: bool, now: float) -> int:
    """Approve (the held templates become the user's, and sync) or reject (erased) a held
    enrollment; returns how many templates it had."""
    rows = conn.execute("SELECT id, model_id, dim, blob FROM review_templates WHERE user_id = ?", (user_id,)).fetchall()
    if approve and rows:
        revision = _bump(conn, user_id, now)
        conn.executemany(
            "INSERT INTO templates (id, user_id, model_id, dim, blob, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(r[0], user_id, r[1], r[2], r[3], now) for r in rows],
        )
        models = sorted({r[1] for r in rows})
        outbox.add(conn, user_id, outbox.ENROLL, revision, now, {"model_id": models[0], "templates": len(rows), "reviewed": True})
    conn.execute("DELETE FROM review_templates WHERE user_id = ?", (user_id,))
    return len(rows)


def add_model_templates(
    conn: sqlite3.Connection, codec: TemplateCodec, user_id: str, model_id: str, vectors: Sequence[np.ndarray], now: float
) -> int:
    """A model's templates for a user who has others' (a template upgrade): that model's
    old ones, if any, give way; the others stay. Returns the revision."""
    revision = _bump(conn, user_id, now)
    history.materialize(conn, user_id)  # the kept versions that share the old templates
    conn.execute("DELETE FROM templates WHERE user_id = ? AND model_id = ?", (user_id, model_id))
    _insert_templates(conn, codec, user_id, model_id, vectors, now)
    outbox.add(conn, user_id, outbox.ENROLL, revision, now, {"model_id": model_id, "templates": len(vectors), "upgrade": True})
    return revision


def _bump(conn: sqlite3.Connection, user_id: str, now: float, sets: str = "", params: tuple[Any, ...] = ()) -> int:
    row = conn.execute(
        f"UPDATE users SET {sets}{', ' if sets else ''}updated_at = ?, revision = revision + 1 "
        "WHERE id = ? AND deleted_at IS NULL RETURNING revision",
        (*params, now, user_id),
    ).fetchone()
    if row is None:
        raise UnknownUserError(f"no account with the id {user_id}")
    return int(row[0])


def set_initial_facts(conn: sqlite3.Connection, user_id: str, consent_version: str | None, consent_at: float | None,
                      language: str | None) -> None:
    """A new user's consent and emails' language, in the transaction that creates it: part
    of its first revision and push (no revision of their own)."""
    conn.execute("UPDATE users SET consent_version = ?, consent_at = ?, language = ? WHERE id = ?",
                 (consent_version, consent_at, language, user_id))


def set_account_facts(conn: sqlite3.Connection, user_id: str, now: float, sets: str, params: tuple[Any, ...], what: str) -> int:
    """Consent, confirmation, a confirmation code or the emails' language changed (they
    travel with the record):
    bump the revision and queue the push; returns the revision."""
    revision = _bump(conn, user_id, now, sets, params)
    outbox.add(conn, user_id, outbox.ACCOUNT, revision, now, {"what": what})
    return revision


def replace_templates(
    conn: sqlite3.Connection, codec: TemplateCodec, user_id: str, model_id: str, vectors: Sequence[np.ndarray], now: float
) -> int:
    """Re-enrollment: all the user's templates give way to new ones; returns the revision."""
    revision = _bump(conn, user_id, now)
    history.materialize(conn, user_id)  # the kept versions that share the old templates
    conn.execute("DELETE FROM templates WHERE user_id = ?", (user_id,))
    _insert_templates(conn, codec, user_id, model_id, vectors, now)
    outbox.add(conn, user_id, outbox.ENROLL, revision, now, {"model_id": model_id, "templates": len(vectors), "reenroll": True})
    return revision


def set_password_hash(conn: sqlite3.Connection, user_id: str, new_hash: str, now: float, reason: str, expected_old: str | None = None) -> int | None:
    """Store a new hash; with ``expected_old`` only if nobody changed it meanwhile (None then)."""
    if expected_old is not None:
        current = password_hash(conn, user_id)
        if current != expected_old:
            return None
    revision = _bump(conn, user_id, now, "password_hash = ?", (new_hash,))
    outbox.add(conn, user_id, outbox.PASSWORD, revision, now, {"reason": reason})
    return revision


def tombstone(conn: sqlite3.Connection, user: User, now: float, keep_email: bool = True) -> int:
    """Erase the templates, hash and email; keep id, times and revision for sync. The
    outbox row keeps the email (to free its /emailIndex entry) only with ``keep_email``
    (sync on); it is erased once pushed."""
    conn.execute("DELETE FROM templates WHERE user_id = ?", (user.id,))
    revision = _bump(
        conn, user.id, now,
        "email = NULL, email_key = NULL, password_hash = NULL, deleted_at = ?, consent_version = NULL, consent_at = NULL, "
        "email_confirmed_at = NULL, confirm_code = NULL, confirm_code_until = NULL, language = NULL", (now,),
    )
    history.erase(conn, user.id)
    outbox.add(conn, user.id, outbox.DELETE, revision, now, {"email": user.email} if keep_email else {})
    return revision


def user_templates(conn: sqlite3.Connection, codec: TemplateCodec, user_id: str, model_id: str) -> np.ndarray:
    """The user's templates of ``model_id`` as an (n, dim) float32 matrix (n may be 0)."""
    rows = conn.execute("SELECT dim, blob FROM templates WHERE user_id = ? AND model_id = ? ORDER BY created_at, rowid", (user_id, model_id)).fetchall()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    dims = {dim for dim, _ in rows}
    if len(dims) != 1:
        raise ValidationError(f"the templates of user {user_id} for {model_id} have different lengths")
    return codec.decode_many(((user_id, model_id, blob) for _, blob in rows), dims.pop())

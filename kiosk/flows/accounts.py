"""The account operations the journeys need, as jobs over the store's public API.

Each function returns a job (a function of the store) for :mod:`kiosk.flows.jobs`.
Outcomes a person causes come back as small values; store failures come back as the
store's own exceptions, which the flow explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from kiosk.flows.jobs import Job
from kiosk.store.emails import Email
from kiosk.store.errors import AuthenticationError, LockedOutError, ReenrollRequiredError, UnknownUserError

if TYPE_CHECKING:
    from kiosk.store import Store


@dataclass(frozen=True)
class Locked:
    scope: str  # "email" or "kiosk"
    remaining_s: float


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str


@dataclass(frozen=True)
class WrongPassword:
    attempts_left: int


@dataclass(frozen=True)
class RegisteredElsewhere:
    """This kiosk's sign-up with the email lost to one made at another kiosk while both
    were offline (the fleet sync resolved it); the person is told once."""


@dataclass(frozen=True)
class ResetSubject:
    """Who a reset is for. ``templates`` None: nothing to compare against (no such email,
    or no face of the current model), which the person is never told."""

    user_id: str | None
    templates: np.ndarray | None
    reason: str  # for the audit log: "", "unknown email", "no usable face"


@dataclass(frozen=True)
class FaceRecorded:
    locked: Locked | None
    attempts_left: int


def _notice_shown(store: Store, email: Email) -> bool:
    """Take the sync notice waiting for this email, if any (it is shown once)."""
    if store.sync_notice(email.address) is None:
        return False
    store.dismiss_sync_notice(email.address)
    return True


def sign_in(email: Email, password: str) -> Job:
    def job(store: Store) -> SignedIn | WrongPassword | Locked | RegisteredElsewhere:
        if _notice_shown(store, email):
            return RegisteredElsewhere()
        try:
            user = store.sign_in_password(email.address, password)
        except LockedOutError as err:
            return Locked(err.scope, err.remaining_s)
        except AuthenticationError:
            return WrongPassword(store.lockout_status(email.address).attempts_left)
        return SignedIn(user.id, user.email or email.address)

    return job


def find_reset_subject(email: Email, model_id: str) -> Job:
    def job(store: Store) -> ResetSubject | Locked:
        try:
            user, templates = store.face_templates(email.address, model_id)
        except LockedOutError as err:
            return Locked(err.scope, err.remaining_s)
        except UnknownUserError:
            return ResetSubject(None, None, "unknown email")
        except ReenrollRequiredError:
            return ResetSubject(None, None, "no usable face")
        return ResetSubject(user.id, np.asarray(templates, dtype=np.float32), "")

    return job


def record_face(email: Email, accepted: bool, score: float | None, reason: str) -> Job:
    def job(store: Store) -> FaceRecorded:
        status = store.record_face_attempt(email.address, accepted, score, reason)
        locked = Locked(status.scope or "email", status.remaining_s) if status.locked else None
        return FaceRecorded(locked, status.attempts_left)

    return job


def enroll(email: Email, password: str, samples: Sequence[np.ndarray], model_id: str, duplicate_threshold: float) -> Job:
    samples = [np.asarray(s, dtype=np.float32) for s in samples]

    def job(store: Store) -> str:
        return str(store.enroll(email.address, password, samples, model_id, duplicate_threshold=duplicate_threshold).id)

    return job


def change_password(user_id: str, password: str) -> Job:
    def job(store: Store) -> None:
        store.change_password(user_id, password, reason="reset by face")

    return job


def count_users() -> Job:
    def job(store: Store) -> int:
        return int(store.count_users())

    return job

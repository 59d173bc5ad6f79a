"""The account operations the journeys need, as jobs over the store's public API.

Each function returns a job (a function of the store) for :mod:`kiosk.flows.jobs`.
Outcomes a person causes come back as small values; store failures come back as the
store's own exceptions, which the flow explains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from kiosk.flows.faces import Embeddings, FaceRules, Templates
from kiosk.flows.jobs import Job
from kiosk.mail import messages
from kiosk.store import admin_pin
from kiosk.store import mail as mail_store
from kiosk.store.emails import Email
from kiosk.store.errors import AuthenticationError, EmailTakenError, LockedOutError, ReenrollRequiredError, UnknownUserError

if TYPE_CHECKING:
    from kiosk.store import Store
    from kiosk.store.gallery import DuplicateSearch


@dataclass(frozen=True)
class Locked:
    scope: str  # "email" or "kiosk"
    remaining_s: float


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str
    # The kiosk's models this person has no templates of (they are offered the upgrade).
    missing_models: tuple[str, ...] = ()
    # They have templates of at least one of the kiosk's models (the upgrade's pictures
    # must then match them).
    has_face: bool = True
    # Mail is configured and the email is not confirmed yet: a new code was sent.
    unconfirmed: bool = False


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
    templates: Templates | None  # model id -> (n, d) matrix
    reason: str  # for the audit log: "", "unknown email", "no usable face"


@dataclass(frozen=True)
class FaceRecorded:
    locked: Locked | None
    attempts_left: int
    # An attempt accepted on its score but refused here (NEARER_OTHER), else None.
    overruled: str | None = None


# The audit reason of an attempt whose face is more like another account than its own.
NEARER_OTHER = "nearer another account"


@dataclass(frozen=True)
class Nearest:
    """What the "nearest account only" check needs (FaceRules.nearer_other): the accepted
    attempt's pictures by model id and the account they were accepted for."""

    rules: FaceRules
    user_id: str
    probes: dict[str, np.ndarray]


def _notice_shown(store: Store, email: Email) -> bool:
    """Take the sync notice waiting for this email, if any (it is shown once)."""
    if store.sync_notice(email.address) is None:
        return False
    store.dismiss_sync_notice(email.address)
    return True


def sign_in(email: Email, password: str, model_ids: Sequence[str] = ()) -> Job:
    """``model_ids``: the kiosk's models, to say which of them the person lacks."""

    def job(store: Store) -> SignedIn | WrongPassword | Locked | RegisteredElsewhere:
        if _notice_shown(store, email):
            return RegisteredElsewhere()
        was_locked = store.lockout_status(email.address).locked
        try:
            user = store.sign_in_password(email.address, password)
        except LockedOutError as err:
            if not was_locked:
                _lock_notice(store, email, err.scope, err.remaining_s)
            return Locked(err.scope, err.remaining_s)
        except AuthenticationError:
            return WrongPassword(store.lockout_status(email.address).attempts_left)
        has = user.model_ids()
        missing = tuple(model for model in model_ids if model not in has)
        unconfirmed = store.settings.mail.enabled and not mail_store.is_confirmed(store, user.id)
        if unconfirmed:
            messages.queue_confirmation(store, store.settings.mail, email, mail_store.language_of(store, user.id))
        return SignedIn(user.id, user.email or email.address, missing, any(model in has for model in model_ids), unconfirmed)

    return job


def find_reset_subject(email: Email, model_ids: Sequence[str]) -> Job:
    """Who a reset is for, with their templates of each of the kiosk's ``model_ids``."""

    def job(store: Store) -> ResetSubject | Locked:
        try:
            user, templates = store.face_templates_of(email.address, list(model_ids))
        except LockedOutError as err:
            return Locked(err.scope, err.remaining_s)
        except UnknownUserError:
            return ResetSubject(None, None, "unknown email")
        except ReenrollRequiredError:
            return ResetSubject(None, None, "no usable face")
        if store.settings.mail.enabled and not mail_store.is_confirmed(store, user.id):
            # Until the owner has shown the address is theirs, a face that enrolled with it
            # cannot take the account over (the person is told nothing different).
            return ResetSubject(None, None, "email not confirmed")
        return ResetSubject(user.id, {model: np.asarray(rows, dtype=np.float32) for model, rows in templates.items()}, "")

    return job


def record_face(email: Email, accepted: bool, score: float | None, reason: str, nearest: Nearest | None = None) -> Job:
    """Count a face attempt (lockout, limits, audit). With ``nearest``, an accepted attempt
    is first searched against everyone enrolled: a face more like another account is
    refused and counted instead (``FaceRecorded.overruled``)."""

    def job(store: Store) -> FaceRecorded:
        verdict, why, overruled = accepted, reason, None
        if accepted and nearest is not None:
            other = nearest.rules.nearer_other(store.gallery, nearest.probes, nearest.user_id)
            if other is not None:
                verdict, overruled = False, NEARER_OTHER
                why = f"{NEARER_OTHER} ({other.owner}, score {other.distance:.3f}); {reason}"
        was_locked = store.lockout_status(email.address).locked
        status = store.record_face_attempt(email.address, verdict, score, why)
        locked = Locked(status.scope or "email", status.remaining_s) if status.locked else None
        if locked is not None and not was_locked:
            _lock_notice(store, email, locked.scope, locked.remaining_s)
        return FaceRecorded(locked, status.attempts_left, overruled)

    return job


def _lock_notice(store: Store, email: Email, scope: str, remaining_s: float) -> None:
    """Tell the owner of ``email`` (if it is an account) that it was just locked."""
    if not store.settings.mail.enabled or scope != "email":
        return
    user = store.find_user(email.address)
    if user is not None and user.email:
        messages.queue_lock_notice(store, store.settings.mail, user.email, max(1, int(-(-remaining_s // 60))),
                                   mail_store.language_of(store, user.id))


@dataclass(frozen=True)
class CodeSent:
    """A sign-up answered "we sent a code to this address": a new account's code, or, for
    an address that has an account already, a notice to its owner (the screen is the
    same, so it tells a stranger nothing)."""


@dataclass(frozen=True)
class CodeChecked:
    outcome: str  # kiosk.store.mail OK, WRONG, TOO_MANY, EXPIRED, WAIT
    wait_s: float = 0.0  # WAIT: until the next code may be tried (fleet-wide)


def enroll_confirming(email: Email, password: str, samples: Sequence[Embeddings], model_id: str,
                      duplicates: DuplicateSearch | None, consent_version: str, language: str = "") -> Job:
    """Sign-up with mail configured: the account (unconfirmed) and a code to its address,
    in ``language`` (the screen's); a taken address gets a notice instead (in its owner's
    language), and the same answer."""
    make = enroll(email, password, samples, model_id, duplicates, consent_version, language)

    def job(store: Store) -> CodeSent:
        try:
            user_id = make(store)
        except EmailTakenError:
            owner = store.find_user(email.address)
            messages.queue_taken_notice(store, store.settings.mail, email,
                                        mail_store.language_of(store, owner.id) if owner is not None else None)
            return CodeSent()
        messages.queue_confirmation(store, store.settings.mail, email, mail_store.language_of(store, user_id))
        return CodeSent()

    return job


def confirm_email(email: Email, typed: str) -> Job:
    def job(store: Store) -> CodeChecked:
        outcome = mail_store.check_code(store, email, mail_store.CONFIRM, typed, store.settings.mail.code_max_tries)
        if outcome == mail_store.OK:
            user = store.find_user(email.address)
            if user is not None:
                mail_store.set_confirmed(store, user.id)
        if outcome == mail_store.WAIT:
            account = store.account_status(email.address)
            return CodeChecked(outcome, account.code_wait_s if account is not None else 0.0)
        return CodeChecked(outcome)

    return job


def enroll(email: Email, password: str, samples: Sequence[Embeddings], model_id: str, duplicates: DuplicateSearch | None,
           consent_version: str = "", language: str = "") -> Job:
    """A new account with every model's templates (``samples``: one set of embeddings
    by model id per picture; ``model_id``: the primary, which every sample has).
    ``duplicates``: the fused duplicate search (a likely duplicate is held for review).
    ``language``: the screen's at sign-up, kept for the account's emails."""
    by_model: dict[str, list[np.ndarray]] = {}
    for sample in samples:
        for model, vector in sample.items():
            by_model.setdefault(model, []).append(np.asarray(vector, dtype=np.float32))
    primary = by_model.pop(model_id)

    def job(store: Store) -> str:
        user = store.enroll(email.address, password, primary, model_id, more_templates=by_model, duplicates=duplicates,
                            consent_version=consent_version, language=language)
        return str(user.id)

    return job


@dataclass(frozen=True)
class Upgraded:
    """A template upgrade's outcome: ``added`` False when the pictures did not match the
    templates the account already has (``score``: their mean fused score)."""

    added: bool
    score: float | None = None


def upgrade_templates(user_id: str, samples: Sequence[Embeddings], missing: Sequence[str], rules: FaceRules) -> Job:
    """The template upgrade after a password sign-in: ``missing`` models' templates from
    ``samples``, added only if the pictures match the face the account already has (a
    password alone must not be enough to put another face on an account). An account
    with no template of any of the kiosk's models has nothing to check against."""
    by_model = {model: [np.asarray(s[model], dtype=np.float32) for s in samples if model in s] for model in missing}

    def job(store: Store) -> Upgraded:
        present = [model for model in rules.model_ids if model not in missing]
        templates = store.user_templates(user_id, present)
        score = None
        if templates:
            scores = [rules.score(sample, templates) for sample in samples]
            score = float(np.mean(scores))
            if not score <= rules.attempt_threshold(templates, len(scores)):
                store.upgrade_refused(user_id, score if np.isfinite(score) else None)
                return Upgraded(False, score if np.isfinite(score) else None)
        for model, rows in by_model.items():
            if rows:
                store.add_templates(user_id, rows, model)
        return Upgraded(True, score)

    return job


def change_password(user_id: str, password: str, by_code: bool = False) -> Job:
    def job(store: Store) -> None:
        user = store.change_password(user_id, password, reason="reset by emailed code" if by_code else "reset by face")
        if store.settings.mail.enabled and user.email:
            messages.queue_reset_notice(store, store.settings.mail, user.email,
                                        messages.BY_CODE if by_code else messages.BY_FACE, mail_store.language_of(store, user.id))

    return job


def check_admin_pin(typed: str, pin_hash: str) -> Job:
    """The admin PIN tried against its hash: counted in the store, audited, refused
    unchecked while the wait after wrong PINs runs."""

    def job(store: Store) -> admin_pin.PinCheck:
        return admin_pin.check(store, typed, pin_hash)

    return job


def send_reset_code(email: Email) -> Job:
    """Forgot password without the face: a code to the address if it has an account; the
    same answer (CodeSent) either way. Locked emails get Locked, as a face reset would."""

    def job(store: Store) -> CodeSent | Locked:
        locked = _reset_code_wait(store, email)
        if locked is not None:
            return locked
        user = store.find_user(email.address)
        if user is not None:
            messages.queue_reset_code(store, store.settings.mail, email, mail_store.language_of(store, user.id))
        return CodeSent()

    return job


def _reset_code_wait(store: Store, email: Email) -> Locked | None:
    """A reset code is the face's alternative, and its wrong tries count as failed faces:
    while this kiosk's lockout or the account's fleet-wide face wait runs, no code is sent
    or checked (every kiosk sends its own code, so the fleet-wide wait is what bounds the
    guesses across kiosks)."""
    status = store.lockout_status(email.address)
    account = store.account_status(email.address)
    if account is not None and account.face_wait_s > status.remaining_s:
        return Locked("email", account.face_wait_s)
    if status.locked:
        return Locked(status.scope or "email", status.remaining_s)
    return None


@dataclass(frozen=True)
class ResetCode:
    """A reset code's check: ``user_id`` when it was right; otherwise the outcome and,
    as for a refused face, the lock it caused or the tries left."""

    outcome: str
    user_id: str | None = None
    locked: Locked | None = None
    attempts_left: int = 0


def check_reset_code(email: Email, typed: str) -> Job:
    """A wrong code counts against the email's lockout like a refused face; a right one
    also confirms the address (the code reached it)."""

    def job(store: Store) -> ResetCode | Locked:
        locked = _reset_code_wait(store, email)
        if locked is not None:
            return locked
        outcome = mail_store.check_code(store, email, mail_store.RESET, typed, store.settings.mail.code_max_tries)
        user = store.find_user(email.address)
        if outcome == mail_store.OK and user is not None:
            store.record_face_attempt(email.address, True, None, "emailed code accepted")
            mail_store.set_confirmed(store, user.id)
            return ResetCode(outcome, user.id)
        recorded = record_face(email, False, None, f"emailed code: {outcome}")(store)
        return ResetCode(outcome, None, recorded.locked, recorded.attempts_left)

    return job


@dataclass(frozen=True)
class AdminFacts:
    users: int
    held_for_review: int  # sign-ups whose face looked like an enrolled one


def admin_facts() -> Job:
    def job(store: Store) -> AdminFacts:
        return AdminFacts(int(store.count_users()), len(store.held_for_review()))

    return job

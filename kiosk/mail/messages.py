"""The emails' text (English), and the queue entries the journeys make."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kiosk.store import mail as queue

if TYPE_CHECKING:
    from kiosk.config.mail import MailSettings
    from kiosk.store.emails import Email
    from kiosk.store.service import Store

# Kinds of email
CODE = "confirm_code"
TAKEN = "signup_taken"
RESET_NOTICE = "reset_notice"
LOCK_NOTICE = "lock_notice"
RESET_CODE = "reset_code"

_NOT_YOU = (
    "If this was not you, someone may be trying to get into your account: tell the staff where "
    "the kiosk is, and set a new password with \"Forgot password\" at a kiosk."
)


def _when(store: Store) -> str:
    return dt.datetime.fromtimestamp(store.clock(), dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _kiosk(store: Store, settings: MailSettings) -> str:
    return settings.kiosk_name or f"kiosk {store.kiosk_id}"


def queue_confirmation(store: Store, settings: MailSettings, email: Email) -> None:
    """A new confirmation code for ``email``, and the email that carries it."""
    minutes = int(settings.code_lifetime_s // 60)

    def compose(code: str) -> tuple[str, str]:
        body = (
            f"Your confirmation code is {code}\n\n"
            f"Type it at the kiosk to confirm that this address is yours. It works for {minutes} minutes, once.\n"
            f"It was asked for at {_kiosk(store, settings)} on {_when(store)}.\n\n"
            "Until the address is confirmed you can sign in with your password, but not set a new "
            "password with your face.\n\n"
            "If you did not sign up, ignore this email: nothing happens without the code."
        )
        return f"Your FaceKiosk code: {code}", body

    queue.enqueue_code(store, email, queue.CONFIRM, settings.code_lifetime_s, CODE, compose)


def queue_reset_code(store: Store, settings: MailSettings, email: Email) -> None:
    """A code to reset the password without the face (sent only to an account's address)."""
    minutes = int(settings.code_lifetime_s // 60)

    def compose(code: str) -> tuple[str, str]:
        body = (
            f"Your code to set a new password is {code}\n\n"
            f"Type it at the kiosk. It works for {minutes} minutes, once.\n"
            f"It was asked for at {_kiosk(store, settings)} on {_when(store)}.\n\n"
            "If you did not ask for it, ignore this email: your password stays as it is. " + _NOT_YOU
        )
        return f"Your FaceKiosk code: {code}", body

    queue.enqueue_code(store, email, queue.RESET, settings.code_lifetime_s, RESET_CODE, compose)


def queue_taken_notice(store: Store, settings: MailSettings, email: Email) -> None:
    """Instead of a code: the address already has an account (the screen says "we sent a
    code" either way, so it tells a stranger nothing)."""
    body = (
        f"Someone tried to sign up with this email address at {_kiosk(store, settings)} on {_when(store)}.\n\n"
        "This address already has an account, so no new account was made. If it was you, sign in with "
        "your password, or choose \"Forgot password\".\n\n" + _NOT_YOU
    )
    queue.enqueue(store, TAKEN, email.address, "A sign-up with your email address", body, settings.notice_lifetime_s)


def queue_reset_notice(store: Store, settings: MailSettings, address: str, how: str = "by face") -> None:
    body = (
        f"The password of your account was reset {how} at {_kiosk(store, settings)} on {_when(store)}.\n\n"
        "If this was you, there is nothing to do.\n\n" + _NOT_YOU
    )
    queue.enqueue(store, RESET_NOTICE, address, "Your password was reset", body, settings.notice_lifetime_s)


def queue_lock_notice(store: Store, settings: MailSettings, address: str, minutes: int) -> None:
    body = (
        f"There were too many failed attempts to use your account at {_kiosk(store, settings)} on {_when(store)}, "
        f"so it is locked for {minutes} minutes.\n\n"
        "If this was you, wait and try again.\n\n" + _NOT_YOU
    )
    queue.enqueue(store, LOCK_NOTICE, address, "Your account was locked", body, settings.notice_lifetime_s)

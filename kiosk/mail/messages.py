"""The emails' text, in the recipient's language, and the queue entries the journeys make.

Each email is written in the language of the person it goes to: the language the screen
showed when they signed up (kept with the account, kiosk.store.mail), else the kiosk's
configured language (``ui.language``). The text comes from the gettext catalogs
(kiosk/i18n), like the screen's, one message per paragraph.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kiosk.i18n import LANGUAGES, Catalog, CatalogError, N_, NP_, Text, load_catalog
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

_NOT_YOU = N_(
    "If this was not you, someone may be trying to get into your account: tell the staff where "
    "the kiosk is, and set a new password with \"Forgot password\" at a kiosk."
)
# How a reset was made, for the notice (kiosk.flows.accounts passes one of these).
BY_FACE = N_("by face")
BY_CODE = N_("with a code sent to this address")


class Writer:
    """Renders the emails of one store in one language."""

    def __init__(self, store: Store, settings: MailSettings, language: str | None) -> None:
        self.store = store
        self.settings = settings
        self.language = language if language in LANGUAGES else default_language(store)
        self.catalog = _catalog(self.language)

    def __call__(self, message: Text | str) -> str:
        return self.catalog(message)

    def body(self, *paragraphs: Text | str) -> str:
        return "\n\n".join(self(p) for p in paragraphs)

    @property
    def when(self) -> str:
        moment = dt.datetime.fromtimestamp(self.store.clock(), dt.timezone.utc)
        # TRANSLATORS: the date and time in an email (always UTC); keep the {names}.
        return self(N_("{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d} UTC", year=moment.year, month=moment.month,
                       day=moment.day, hour=moment.hour, minute=moment.minute))

    @property
    def kiosk(self) -> str:
        # TRANSLATORS: how an email names a kiosk that has no configured name (mail.kiosk_name).
        return self.settings.kiosk_name or self(N_("kiosk {id}", id=self.store.kiosk_id))


def default_language(store: Store) -> str:
    language = store.settings.ui.language
    return language if language in LANGUAGES else "en"


def _catalog(language: str) -> Catalog:
    try:
        return load_catalog(language)
    except CatalogError:
        if language == "en":
            import gettext

            return Catalog(gettext.NullTranslations(), "en")  # the message ids are English
        return _catalog("en")


def queue_confirmation(store: Store, settings: MailSettings, email: Email, language: str | None = None) -> None:
    """A new confirmation code for ``email``, and the email that carries it."""
    write = Writer(store, settings, language)
    minutes = int(settings.code_lifetime_s // 60)

    def compose(code: str) -> tuple[str, str]:
        body = write.body(
            N_("Your confirmation code is {code}", code=code),
            NP_("Type it at the kiosk to confirm that this address is yours. It works for {n} minute, once.",
                "Type it at the kiosk to confirm that this address is yours. It works for {n} minutes, once.", minutes),
            N_("It was asked for at {kiosk} on {when}.", kiosk=write.kiosk, when=write.when),
            N_("Until the address is confirmed you can sign in with your password, but not set a new "
               "password with your face."),
            N_("If you did not sign up, ignore this email: nothing happens without the code."),
        )
        return write(N_("Your FaceKiosk confirmation code: {code}", code=code)), body

    queue.enqueue_code(store, email, queue.CONFIRM, settings.code_lifetime_s, CODE, compose)


def queue_reset_code(store: Store, settings: MailSettings, email: Email, language: str | None = None) -> None:
    """A code to reset the password without the face (sent only to an account's address)."""
    write = Writer(store, settings, language)
    minutes = int(settings.code_lifetime_s // 60)

    def compose(code: str) -> tuple[str, str]:
        body = write.body(
            N_("Your code to set a new password is {code}", code=code),
            NP_("Type it at the kiosk. It works for {n} minute, once.", "Type it at the kiosk. It works for {n} minutes, once.",
                minutes),
            N_("It was asked for at {kiosk} on {when}.", kiosk=write.kiosk, when=write.when),
            write(N_("If you did not ask for it, ignore this email: your password stays as it is.")) + " " + write(_NOT_YOU),
        )
        return write(N_("Your FaceKiosk code for a new password: {code}", code=code)), body

    queue.enqueue_code(store, email, queue.RESET, settings.code_lifetime_s, RESET_CODE, compose)


def queue_taken_notice(store: Store, settings: MailSettings, email: Email, language: str | None = None) -> None:
    """Instead of a code: the address already has an account (the screen says "we sent a
    code" either way, so it tells a stranger nothing). ``language``: the owner's."""
    write = Writer(store, settings, language)
    body = write.body(
        N_("Someone tried to sign up with this email address at {kiosk} on {when}.", kiosk=write.kiosk, when=write.when),
        N_("This address already has an account, so no new account was made. If it was you, sign in with "
           "your password, or choose \"Forgot password\"."),
        _NOT_YOU,
    )
    queue.enqueue(store, TAKEN, email.address, write(N_("A sign-up with your email address")), body, settings.notice_lifetime_s)


def queue_reset_notice(store: Store, settings: MailSettings, address: str, how: Text = BY_FACE,
                       language: str | None = None) -> None:
    write = Writer(store, settings, language)
    body = write.body(
        N_("The password of your account was reset {how} at {kiosk} on {when}.", how=how, kiosk=write.kiosk, when=write.when),
        N_("If this was you, there is nothing to do."),
        _NOT_YOU,
    )
    queue.enqueue(store, RESET_NOTICE, address, write(N_("Your password was reset")), body, settings.notice_lifetime_s)


def queue_lock_notice(store: Store, settings: MailSettings, address: str, minutes: int, language: str | None = None) -> None:
    write = Writer(store, settings, language)
    body = write.body(
        NP_("There were too many failed attempts to use your account at {kiosk} on {when}, so it is locked for {n} minute.",
            "There were too many failed attempts to use your account at {kiosk} on {when}, so it is locked for {n} minutes.",
            minutes, kiosk=write.kiosk, when=write.when),
        N_("If this was you, wait and try again."),
        _NOT_YOU,
    )
    queue.enqueue(store, LOCK_NOTICE, address, write(N_("Your account was locked")), body, settings.notice_lifetime_s)

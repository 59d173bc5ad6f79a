"""Live feedback while a person types an email or a password.

The store stays the authority (``normalize_email``, ``check_password_rules``): these
checks only explain, as the person types, what the store would refuse and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.config.store import PasswordSettings
from kiosk.errors import ValidationError
from kiosk.i18n import N_, NP_, Text
from kiosk.store.emails import Email, normalize_email
from kiosk.store import passwords
from kiosk.store.passwords import check_password_rules

EMAIL_MAX_CHARS = 254


@dataclass(frozen=True)
class Check:
    ok: bool
    text: Text
    # A hint is what is still missing while typing (not shown as an error until the
    # person tries to go on); an error is wrong whatever follows.
    hint: bool = False


def email_check(text: str) -> Check:
    value = text.strip()
    if not value:
        return Check(False, N_("For example: name@example.org"), hint=True)
    if any(char.isspace() for char in value):
        return Check(False, N_("An email address has no spaces"))
    if "@" not in value:
        return Check(False, N_("An email address needs an @"), hint=True)
    local, _, domain = value.partition("@")
    if "@" in domain:
        return Check(False, N_("An email address has only one @"))
    if not local:
        return Check(False, N_("Something is missing before the @"))
    if not domain:
        return Check(False, N_("Add the part after the @, like example.org"), hint=True)
    if "." not in domain or domain.endswith("."):
        return Check(False, N_("The part after the @ needs a dot, like example.org"), hint=True)
    try:
        normalize_email(value)
    except ValidationError:
        return Check(False, N_("This is not a valid email address"))
    return Check(True, N_("Looks good"))


def parse_email(text: str) -> Email | None:
    try:
        return normalize_email(text)
    except ValidationError:
        return None


def password_checks(password: str, email: Email | None, settings: PasswordSettings) -> list[Check]:
    """The rules, each with whether the password keeps it (shown as a live list)."""
    length = len(password)
    checks = [Check(length >= settings.min_length, NP_("At least {n} character", "At least {n} characters", settings.min_length))]
    if length > settings.max_length:
        checks.append(Check(False, NP_("At most {n} character", "At most {n} characters", settings.max_length)))
    if email is not None:
        same = bool(password) and password.casefold() in (email.address.casefold(), email.key)
        checks.append(Check(bool(password) and not same, N_("Not your email address")))
    if settings.min_strength > 0:
        checks.append(strength_check(password, email, settings))
    return checks


# Why a password is too easy to guess (kiosk.store.passwords' kinds), in every language.
WEAKNESS_TEXT = {
    passwords.COMMON: N_("Too easy to guess: a common password, or close to one"),
    passwords.WORD: N_("Too easy to guess: a single word or name"),
    passwords.PERSONAL: N_("Too easy to guess: it contains your email or this kiosk's name"),
    passwords.KEYBOARD: N_("Too easy to guess: a keyboard pattern"),
    passwords.REPEAT: N_("Too easy to guess: repeated characters"),
    passwords.SEQUENCE: N_("Too easy to guess: a sequence like abc or 6543"),
    passwords.DATE: N_("Too easy to guess: a year or a date"),
    passwords.SHORT: N_("Too easy to guess: add another word or two"),
}


def strength_check(password: str, email: Email | None, settings: PasswordSettings) -> Check:
    """zxcvbn's verdict, with the reason when it is too guessable. While the password is
    shorter than the minimum it is only a hint (the length rule speaks first)."""
    if len(password) < settings.min_length or len(password) > settings.max_length:
        return Check(False, N_("Hard to guess"), hint=True)
    found = passwords.strength(password, email, settings)
    if found.score >= settings.min_strength:
        return Check(True, N_("Hard to guess"))
    return Check(False, WEAKNESS_TEXT[found.weakness])


def password_ok(password: str, email: Email | None, settings: PasswordSettings) -> bool:
    try:
        check_password_rules(password, email, settings)
    except ValidationError:
        return False
    return True

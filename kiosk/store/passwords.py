"""Password rules and argon2id hashing (``argon2-cffi``), parameters from config.

Passwords are put in Unicode NFKC before they are checked or hashed (NIST SP 800-63B
5.1.1.2), so the same password typed on another keyboard or kiosk still matches. Any
printable character is allowed, spaces included; NUL and other control characters are
refused because no kiosk keyboard types them and they break naive consumers downstream.

Verifying costs 100-500 ms with the default parameters on purpose: call it off the UI
thread.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kiosk.config.store import PasswordSettings
from kiosk.errors import ValidationError
from kiosk.store.emails import Email

HASH_LEN = 32
SALT_LEN = 16


def make_hasher(settings: PasswordSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        hash_len=HASH_LEN,
        salt_len=SALT_LEN,
        type=Type.ID,
    )


def normalize_password(password: str) -> str:
    if not isinstance(password, str):
        raise ValidationError("password: must be text")
    return unicodedata.normalize("NFKC", password)


def check_password_rules(password: str, email: Email | None, settings: PasswordSettings) -> str:
    """The normalised password if it follows the rules, else a ValidationError saying why."""
    # Bound the work before normalising: NFKC can expand a string, never by more than 18x.
    if len(password) > settings.max_length * 18:
        raise ValidationError(f"password is too long (at most {settings.max_length} characters)")
    text = normalize_password(password)
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):
            what = "a NUL character" if char == "\0" else f"a control character (U+{ord(char):04X})"
            raise ValidationError(f"password contains {what}, which is not allowed")
    if len(text) < settings.min_length:
        raise ValidationError(f"password is too short (at least {settings.min_length} characters)")
    if len(text) > settings.max_length:
        raise ValidationError(f"password is too long (at most {settings.max_length} characters)")
    if email is not None and text.casefold() in (email.address.casefold(), email.key):
        raise ValidationError("password cannot be your email address")
    return text


@dataclass(frozen=True)
class Verification:
    ok: bool
    new_hash: str | None = None  # set when the hash was upgraded to the current parameters


class Passwords:
    """Hash and verify with the configured argon2id parameters."""

    def __init__(self, settings: PasswordSettings) -> None:
        self.settings = settings
        self._hasher = make_hasher(settings)
        # Verified against when the email is unknown, so the answer takes as long either
        # way; made on first need because hashing costs as much as verifying.
        self._dummy_hash: str | None = None

    def hash(self, password: str, email: Email | None) -> str:
        return self._hasher.hash(check_password_rules(password, email, self.settings))

    def verify(self, stored_hash: str | None, password: str) -> Verification:
        """Check a sign-in; never raises for a wrong or malformed password."""
        try:
            text = normalize_password(password)
            text.encode("utf-8")
        except (ValidationError, UnicodeError):
            text = None
        if stored_hash is None or text is None:
            self._burn(password)
            return Verification(ok=False)
        try:
            self._hasher.verify(stored_hash, text)
        except VerifyMismatchError:
            return Verification(ok=False)
        except (InvalidHashError, VerificationError):
            return Verification(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verification(ok=True, new_hash=self._hasher.hash(text))
        return Verification(ok=True)

    def _burn(self, password: object) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("facekiosk timing equaliser")
        try:
            self._hasher.verify(self._dummy_hash, str(password).encode("utf-8", "replace"))
        except VerificationError:
            pass

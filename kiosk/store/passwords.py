"""Password rules and argon2id hashing (``argon2-cffi``), parameters from config.

Passwords are put in Unicode NFKC before they are checked or hashed (NIST SP 800-63B
5.1.1.2), so the same password typed on another keyboard or kiosk still matches. Any
printable character is allowed, spaces included; NUL and other control characters are
refused because no kiosk keyboard types them and they break naive consumers downstream.

A new password must also be hard to guess: zxcvbn (its lists of common and leaked
passwords, words, names, keyboard patterns, dates) must score it at least
``passwords.min_strength``, with the email and the kiosk's own words counted as known
to the guesser (800-63B 5.1.1.2 asks for a check against such lists).

Verifying costs 100-500 ms with the default parameters on purpose: call it off the UI
thread.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

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
    found = strength(text, email, settings)
    if found.score < settings.min_strength:
        raise ValidationError(f"password is too easy to guess: {WEAKNESS_TEXT[found.weakness]}")
    return text


# Why zxcvbn finds a password guessable, in a few kinds the screens explain in every
# language (zxcvbn's own feedback is English only).
COMMON = "common"  # on a list of common or leaked passwords, or close to one
WORD = "word"  # a dictionary word or name on its own
PERSONAL = "personal"  # the email address or the kiosk's own words
KEYBOARD = "keyboard"  # rows or patterns of keys
REPEAT = "repeat"  # aaa, abcabc
SEQUENCE = "sequence"  # abc, 6543
DATE = "date"  # years and dates
SHORT = "short"  # none of those: simply too few guesses

WEAKNESS_TEXT = {
    COMMON: "it is a common password, or close to one",
    WORD: "a single word or name is easy to guess",
    PERSONAL: "it contains your email address or this kiosk's name",
    KEYBOARD: "keyboard patterns are easy to guess",
    REPEAT: "repeated characters are easy to guess",
    SEQUENCE: "sequences like abc or 6543 are easy to guess",
    DATE: "years and dates are easy to guess",
    SHORT: "add another word or two",
}


@dataclass(frozen=True)
class Strength:
    score: int  # zxcvbn's 0 (too guessable) .. 4 (very unguessable)
    weakness: str  # one of the kinds above: what made it guessable (SHORT if nothing in particular)


def _weakness(sequence: list[dict[str, Any]]) -> str:
    kinds = {str(m.get("pattern")) for m in sequence}
    names = {str(m.get("dictionary_name")) for m in sequence if m.get("pattern") == "dictionary"}
    if "user_inputs" in names:
        return PERSONAL
    if "passwords" in names and len(sequence) == 1:
        return COMMON
    for pattern, kind in (("spatial", KEYBOARD), ("repeat", REPEAT), ("sequence", SEQUENCE), ("date", DATE), ("regex", DATE)):
        if pattern in kinds:
            return kind
    if names & {"passwords"}:
        return COMMON
    if len(sequence) == 1 and kinds == {"dictionary"}:
        return WORD
    return SHORT


@functools.lru_cache(maxsize=256)
def _estimate(text: str, inputs: tuple[str, ...]) -> Strength:
    result = zxcvbn(text[:ZXCVBN_MAX_CHARS], user_inputs=list(inputs), max_length=ZXCVBN_MAX_CHARS)
    return Strength(int(result["score"]), _weakness(list(result["sequence"])))


# zxcvbn's time grows quickly with length; past this many characters a password is not
# guessable by its patterns anyway, and the rest is not looked at.
ZXCVBN_MAX_CHARS = 72


def strength(password: str, email: Email | None, settings: PasswordSettings) -> Strength:
    """zxcvbn's estimate of ``password`` (NFKC), with the email (whole, its local part and
    its domain's words) and the kiosk's own words (``context_words``) as what a guesser
    of this account would try first. Cached: the screens ask at every key."""
    inputs = list(settings.context_words)
    if email is not None:
        local, _, domain = email.address.partition("@")
        inputs += [email.address, local, *domain.split(".")[:-1]]
    return _estimate(normalize_password(password), tuple(word for word in inputs if word))


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
        if self.upgrades(stored_hash):
            return Verification(ok=True, new_hash=self._hasher.hash(text))
        return Verification(ok=True)

    def upgrades(self, stored_hash: str) -> bool:
        """Whether re-hashing ``stored_hash`` with the configured parameters makes it
        stronger: never when any of them is weaker (a config with cheaper argon2 on one
        kiosk must not replace, and sync to the fleet, the hashes made elsewhere)."""
        if not self._hasher.check_needs_rehash(stored_hash):
            return False
        try:
            old = extract_parameters(stored_hash)
        except InvalidHashError:
            return False
        new = self._hasher
        if old.type is not Type.ID:
            return new.memory_cost >= old.memory_cost and new.time_cost >= old.time_cost
        not_weaker = (new.memory_cost >= old.memory_cost and new.time_cost >= old.time_cost
                      and new.hash_len >= old.hash_len and new.salt_len >= old.salt_len)
        stronger = new.memory_cost > old.memory_cost or new.time_cost > old.time_cost
        return not_weaker and stronger

    def _burn(self, password: object) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("facekiosk timing equaliser")
        try:
            self._hasher.verify(self._dummy_hash, str(password).encode("utf-8", "replace"))
        except VerificationError:
            pass

"""Email addresses: normalisation, validation and the key users are looked up by.

Policy (decided for issue 4):

* Whitespace around the address is trimmed and the address is put in Unicode NFC, so
  the same characters typed on different keyboards give the same address.
* The domain goes through IDNA 2008 with the UTS #46 mapping (the ``idna`` package), which
  lower-cases it and maps full-width and other compatibility forms. It is stored in its
  Unicode form (``bücher.de``, what the person recognises) and compared in its ASCII
  form (``xn--bcher-kva.de``).
* The local part (before ``@``) is **stored as typed but compared case-insensitively**
  (Unicode case folding). RFC 5321 allows a mail server to treat ``Ann`` and ``ann`` as
  different mailboxes, so we never rewrite what the person typed: mail goes to exactly
  that address. But practically every provider ignores case there, and two accounts
  that differ only in case would be an impersonation and support problem, so they are
  one user: whoever enrolls first decides the stored spelling, and ``ANN@x.org`` finds
  them afterwards.
* No provider-specific rewriting (Gmail dots, ``+tag`` suffixes): to the mail system
  those are different addresses, and guessing wrong would merge two people.
* Accepted syntax is the dot-atom form of RFC 5322 (letters, digits and
  ``!#$%&'*+/=?^_`{|}~-``, dots between them), plus non-ASCII letters as RFC 6531 allows.
  Quoted local parts, comments, IP-literal domains, invisible or control characters are
  refused: real kiosk users do not have such addresses, and they are a spoofing vector.
* Lengths: local part at most 64 bytes (UTF-8), domain at most 253 characters in ASCII
  form, the whole address at most 254 bytes. The domain needs at least two labels.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import idna

from kiosk.errors import ValidationError

MAX_ADDRESS_BYTES = 254
MAX_LOCAL_BYTES = 64
MAX_DOMAIN_CHARS = 253
# Refuse anything much longer before doing any work on it.
_MAX_RAW_CHARS = 1024
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-")


@dataclass(frozen=True)
class Email:
    address: str  # what is stored and shown: local part as typed, normalised domain
    key: str  # what is compared: case-folded local part, ASCII domain

    def __str__(self) -> str:
        return self.address


def _describe(char: str) -> str:
    if char.isspace():
        return "a space" if char == " " else f"a whitespace character (U+{ord(char):04X})"
    if char.isprintable():
        return f"'{char}'"
    return f"an invisible or control character (U+{ord(char):04X})"


def _check_local(local: str) -> None:
    if not local:
        raise ValidationError("email: the part before @ is empty")
    if len(local.encode("utf-8")) > MAX_LOCAL_BYTES:
        raise ValidationError(f"email: the part before @ is too long (at most {MAX_LOCAL_BYTES} characters)")
    if local.startswith('"'):
        raise ValidationError("email: quoted addresses are not supported")
    for char in local:
        if char == "." or char in _ATEXT:
            continue
        if ord(char) > 127 and unicodedata.category(char)[0] in "LMNPS":
            continue  # a visible non-ASCII character (RFC 6531)
        raise ValidationError(f"email: the part before @ contains {_describe(char)}, which is not allowed")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValidationError("email: dots before @ cannot come first, last or twice in a row")


def _check_domain(domain: str) -> tuple[str, str]:
    """The domain's (Unicode, ASCII) forms, or a ValidationError."""
    if not domain:
        raise ValidationError("email: the part after @ is empty")
    if domain.startswith("["):
        raise ValidationError("email: IP address domains are not supported")
    if domain.endswith("."):
        raise ValidationError("email: the domain cannot end with a dot")
    for char in domain:
        if not char.isprintable() or char.isspace():
            raise ValidationError(f"email: the domain contains {_describe(char)}, which is not allowed")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        unicode_domain = idna.decode(ascii_domain)
    except (idna.IDNAError, UnicodeError) as err:
        raise ValidationError(f"email: the domain {domain!r} is not valid ({err})") from None
    if len(ascii_domain) > MAX_DOMAIN_CHARS:
        raise ValidationError(f"email: the domain is too long (at most {MAX_DOMAIN_CHARS} characters)")
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        raise ValidationError("email: the domain needs a dot, like example.org")
    if labels[-1].isdigit():
        raise ValidationError("email: the domain cannot end with a number")
    return unicode_domain, ascii_domain


def normalize_email(raw: str) -> Email:
    """Normalise and validate an address typed by a person; ValidationError says why not."""
    if not isinstance(raw, str):
        raise ValidationError("email: must be text")
    if len(raw) > _MAX_RAW_CHARS:
        raise ValidationError(f"email is too long (at most {MAX_ADDRESS_BYTES} characters)")
    text = unicodedata.normalize("NFC", raw.strip())
    if not text:
        raise ValidationError("email: enter an address like name@example.org")
    if "@" not in text:
        raise ValidationError("email: an address needs an @, like name@example.org")
    local, _, domain = text.rpartition("@")
    if "@" in local:
        raise ValidationError("email: an address has only one @")
    _check_local(local)
    unicode_domain, ascii_domain = _check_domain(domain)
    address = f"{local}@{unicode_domain}"
    if len(f"{local}@{ascii_domain}".encode("utf-8")) > MAX_ADDRESS_BYTES:
        raise ValidationError(f"email is too long (at most {MAX_ADDRESS_BYTES} characters)")
    return Email(address=address, key=f"{local.casefold()}@{ascii_domain}")


def email_key(raw: str) -> str:
    """The comparison key of an address (normalising and validating it)."""
    return normalize_email(raw).key

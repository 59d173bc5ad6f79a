"""The admin PIN: an argon2id hash, tries counted in the database with a growing wait,
every failure in the audit log.

The hash comes from the systemd credential ``admin-pin-hash`` (``LoadCredential=``, the
file ``facekiosk admin set-pin --out`` writes) or ``ui.admin_pin_hash`` in the config.
A PIN has 6 to 12 digits and is not one digit repeated or a run (123456, 987654).

After ``FREE_TRIES`` wrong PINs in a row each further try waits ``FIRST_WAIT_S``,
doubling with every failure up to ``MAX_WAIT_S``; the count is in the database, so a
restart (or pulling the plug) does not reset it. A right PIN clears it. The wait is
never reported as longer than its cap, whatever the wall clock did meanwhile.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from kiosk.errors import ConfigError, ValidationError
from kiosk.store import audit as audit_mod
from kiosk.store import db

if TYPE_CHECKING:
    from kiosk.store.service import Store

CREDENTIAL = "admin-pin-hash"
NO_CREDENTIAL = b"none"  # what the unit's SetCredential= gives without the file
FREE_TRIES = 3
FIRST_WAIT_S = 30.0
MAX_WAIT_S = 3600.0
MIN_DIGITS = 6
MAX_DIGITS = 12
_META_KEY = "admin_pin_failures"
ADMIN_PIN = "admin_pin"  # the audit log's action

# Hashing a PIN: stronger than the password default, since a PIN has few values; its
# own parameters travel in the hash, so verifying needs no settings.
_HASHER = PasswordHasher(time_cost=4, memory_cost=131072, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)


def check_pin_rules(pin: str) -> str:
    """The PIN if it may be used; ValidationError saying why not."""
    if not (pin.isascii() and pin.isdigit()):
        raise ValidationError("the admin PIN must be digits only")
    if not MIN_DIGITS <= len(pin) <= MAX_DIGITS:
        raise ValidationError(f"the admin PIN must have {MIN_DIGITS} to {MAX_DIGITS} digits")
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({0}, {1}, {9}):
        raise ValidationError("the admin PIN cannot be one digit repeated or a run like 123456")
    return pin


def hash_pin(pin: str) -> str:
    return _HASHER.hash(check_pin_rules(pin))


def valid_hash(value: str) -> bool:
    if not value.startswith("$argon2id$"):
        return False
    try:
        from argon2 import extract_parameters

        extract_parameters(value)
    except InvalidHashError:
        return False
    return True


def load_pin_hash(configured: str, environ: Mapping[str, str] | None = None) -> str:
    """The PIN hash in use: the systemd credential, else ``ui.admin_pin_hash``; "" hides
    the admin screen. ConfigError if the credential is not an argon2id hash."""
    environ = os.environ if environ is None else environ
    cred_dir = environ.get("CREDENTIALS_DIRECTORY", "")
    if cred_dir:
        path = Path(cred_dir) / CREDENTIAL
        try:
            data = path.read_bytes().strip()
        except OSError:
            data = b""
        if data and data != NO_CREDENTIAL:
            text = data.decode("ascii", "replace")
            if not valid_hash(text):
                raise ConfigError(f"the {CREDENTIAL} credential is not an argon2id hash: make it with facekiosk admin set-pin --out")
            return text
    return configured


@dataclass(frozen=True)
class PinCheck:
    ok: bool
    wait_s: float  # > 0: refused without checking; try again after this long
    failures: int  # wrong PINs in a row now


def _wait_for(failures: int) -> float:
    if failures < FREE_TRIES:
        return 0.0
    return float(min(MAX_WAIT_S, FIRST_WAIT_S * 2.0 ** min(failures - FREE_TRIES, 30)))


def _load(store: Store) -> tuple[int, float]:
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (_META_KEY,)).fetchone()
    if row is None:
        return 0, 0.0
    try:
        data = json.loads(bytes(row[0]))
        return int(data["failures"]), float(data["at"])
    except (ValueError, KeyError, TypeError):
        return FREE_TRIES, store.clock()  # a damaged count is treated as a run of failures


def _save(store: Store, failures: int, at: float) -> None:
    if failures == 0:
        store.conn.execute("DELETE FROM meta WHERE key = ?", (_META_KEY,))
    else:
        value = json.dumps({"failures": failures, "at": at}).encode()
        store.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_META_KEY, value))


def status(store: Store) -> PinCheck:
    """The wait before the next try (0: may try now), without trying."""
    failures, at = _load(store)
    now = store.clock()
    wait = _wait_for(failures)
    left = max(0.0, min(wait, at + wait - now)) if wait else 0.0
    return PinCheck(False, left, failures)


def check(store: Store, typed: str, pin_hash: str) -> PinCheck:
    """Try ``typed`` against ``pin_hash``: counted, audited, refused unchecked while waiting."""
    before = status(store)
    if before.wait_s > 0:
        with db.transaction(store.conn):
            store.audit.record(ADMIN_PIN, audit_mod.LOCKED, reason=f"waiting {before.wait_s:.0f} s after {before.failures} wrong PINs")
        return before
    try:
        ok = bool(pin_hash) and _HASHER.verify(pin_hash, typed)
    except (VerificationError, InvalidHashError):
        ok = False
    now = store.clock()
    with db.transaction(store.conn, durable=True):
        failures = 0 if ok else _load(store)[0] + 1
        _save(store, failures, now)
        if ok:
            store.audit.record(ADMIN_PIN, audit_mod.OK)
        else:
            store.audit.record(ADMIN_PIN, audit_mod.FAIL, reason=f"wrong admin PIN ({failures} in a row)")
    return PinCheck(ok, 0.0 if ok else _wait_for(failures), failures)

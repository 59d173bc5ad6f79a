"""``facekiosk admin set-pin``: set the admin PIN, keeping only its argon2id hash.

The PIN (6 to 12 digits, not one digit repeated nor a run like 123456) is read twice
from the terminal (or two lines of standard input). With ``--out FILE`` the hash is
written to FILE with mode 0600, replacing it atomically: the unit loads
/etc/facekiosk/admin-pin-hash as the credential ``admin-pin-hash``. Without it the
config line ``admin_pin_hash: ...`` (for the ``ui`` section) is printed. A running kiosk
picks the new hash up at its next reload or restart. Exit status 0, or 2 with one line.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from kiosk.errors import ValidationError
from kiosk.store.admin_pin import hash_pin


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("admin", help="set the admin PIN")
    actions = parser.add_subparsers(dest="admin_action", metavar="ACTION")
    actions.required = True
    set_pin = actions.add_parser("set-pin", help="hash a new admin PIN (6-12 digits) for the credential or the config")
    set_pin.add_argument("--out", metavar="FILE", help="write the hash to FILE (mode 0600), e.g. /etc/facekiosk/admin-pin-hash")
    parser.set_defaults(func=run)


def _read_pin(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise ValidationError("no PIN given on standard input (two lines: the PIN, then the PIN again)")
    return line.rstrip("\r\n")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600, atomically."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise ValidationError(f"cannot write {path}: {err.strerror}") from None


def run(args: argparse.Namespace) -> int:
    pin = _read_pin("New admin PIN (6-12 digits): ")
    hashed = hash_pin(pin)  # checks the rules first
    if _read_pin("The same PIN again: ") != pin:
        raise ValidationError("the two PINs are not the same; nothing was changed")
    if args.out:
        path = Path(args.out)
        write_private(path, hashed)
        print(f"wrote the admin PIN hash to {path} (mode 0600); the unit loads it as the credential "
              "admin-pin-hash: systemctl reload facekiosk")
    else:
        print(f"admin_pin_hash: '{hashed}'")
    return 0

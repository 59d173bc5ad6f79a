"""Secret files (template key, service-account key, mail password, admin PIN hash): only
the service may read them.

A secret in a file that group or others can read is refused with the fix named, before
it is used: ``chmod 600``, or better a systemd credential. Files under
``$CREDENTIALS_DIRECTORY`` are exempt: systemd made them, readable by the service alone
(``LoadCredential=``, ``LoadCredentialEncrypted=``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Mapping

from kiosk.errors import ConfigError


def from_credentials(path: Path, environ: Mapping[str, str]) -> bool:
    """Whether ``path`` is one of the service's systemd credentials."""
    cred_dir = environ.get("CREDENTIALS_DIRECTORY", "")
    if not cred_dir:
        return False
    try:
        return path.resolve().parent == Path(cred_dir).resolve()
    except OSError:
        return False


def check_secret_file(path: Path, what: str, environ: Mapping[str, str] | None = None) -> None:
    """ConfigError (one line, with the fix) if ``path`` is readable or writable by group
    or others; nothing if it is private, missing (the caller says so) or a credential."""
    environ = os.environ if environ is None else environ
    if from_credentials(path, environ):
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        raise ConfigError(
            f"{what} {path} is readable by group or others (mode {mode:04o}): run chmod 600 {path}, "
            "or give it to the service as a systemd credential (LoadCredentialEncrypted=, see README)"
        )

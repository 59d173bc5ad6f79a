"""The firebase-admin app a kiosk syncs through, and where its credentials come from.

Credentials, first found wins:

1. the systemd credential ``firebase-service-account`` (``LoadCredential=`` puts it in
   ``$CREDENTIALS_DIRECTORY``), a service-account JSON key;
2. the file named by ``sync.credentials_file`` (relative to the config file);
3. none, for an emulator: ``$FIREBASE_DATABASE_EMULATOR_HOST`` set, or an ``http://`` database
   URL. The SDK then sends the emulator's "owner" token.

Who the app is to the database rules (database.rules.json): a kiosk's app sets the Admin
SDK's ``databaseAuthVariableOverride`` to ``{"uid": <sync.kiosk_id>}``, so the rules check
everything the kiosk writes (record shapes, its own /kiosks entry only, no revocations). The
administrator's app (``facekiosk fleet`` on their machine, ``as_admin``) has no override:
the service account's full access, which certificates, template keys and revocations need.
The override is a promise the holder of the key makes, not a proof: whoever holds the
service-account key can leave it out, so keep the key file readable by the kiosk service
only; the records' signatures are what the other kiosks trust.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Mapping

import firebase_admin
from firebase_admin import credentials

from kiosk.config.sync import SyncSettings
from kiosk.secrets import check_secret_file
from kiosk.sync.errors import SyncError

SERVICE_ACCOUNT_CREDENTIAL = "firebase-service-account"
# What the unit's SetCredential= gives when the service-account file is absent.
NO_CREDENTIAL = b"none"
EMULATOR_ENV = "FIREBASE_DATABASE_EMULATOR_HOST"


def credentials_path(sync: SyncSettings, resolve: Callable[[str], Path], environ: Mapping[str, str]) -> Path | None:
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        candidate = Path(cred_dir) / SERVICE_ACCOUNT_CREDENTIAL
        if candidate.exists() and candidate.read_bytes().strip() != NO_CREDENTIAL:
            return candidate
    if sync.credentials_file:
        return resolve(sync.credentials_file)
    return None


def uses_emulator(sync: SyncSettings, environ: Mapping[str, str]) -> bool:
    return bool(environ.get(EMULATOR_ENV)) or sync.database_url.startswith("http://")


def open_app(
    sync: SyncSettings,
    resolve: Callable[[str], Path],
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
    as_admin: bool = False,
) -> firebase_admin.App:
    """A new, separately named firebase-admin app (delete it with ``firebase_admin.delete_app``
    when done): the kiosk ``sync.kiosk_id`` under the database rules, or with ``as_admin`` the
    administrator, whom the rules do not bind. SyncError with the reason if it cannot be made."""
    environ = os.environ if environ is None else environ
    if not sync.database_url:
        raise SyncError("sync.database_url is empty")
    path = credentials_path(sync, resolve, environ)
    credential: credentials.Base | None
    if path is not None:
        check_secret_file(path, "Firebase service-account key", environ)
        try:
            credential = credentials.Certificate(str(path))
        except FileNotFoundError:
            raise SyncError(f"Firebase service-account key not found: {path} (sync.credentials_file)") from None
        except (OSError, ValueError) as err:
            raise SyncError(f"Firebase service-account key {path} is unusable: {err}") from None
    elif uses_emulator(sync, environ):
        credential = None  # the SDK uses the emulator's owner token and never loads one
    else:
        raise SyncError(
            f"no Firebase credentials: provide the systemd credential '{SERVICE_ACCOUNT_CREDENTIAL}' "
            "(LoadCredential=) or set sync.credentials_file to a service-account JSON key"
        )
    if not as_admin and not sync.kiosk_id:
        raise SyncError(
            "sync.kiosk_id is empty: name this kiosk in config.yml (the name it was enrolled under); "
            "it connects to the database as that kiosk"
        )
    options: dict[str, object] = {"databaseURL": sync.database_url, "httpTimeout": sync.http_timeout_s}
    if not as_admin:
        options["databaseAuthVariableOverride"] = {"uid": sync.kiosk_id}
    try:
        return firebase_admin.initialize_app(credential, options, name=name or f"facekiosk-sync-{uuid.uuid4().hex}")
    except ValueError as err:
        raise SyncError(f"cannot set up Firebase: {err}") from None

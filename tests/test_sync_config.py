"""The sync config section and where the Firebase credentials come from."""

from __future__ import annotations

import json
from pathlib import Path

import firebase_admin
import pytest
from pydantic import ValidationError

from kiosk.config.sync import SyncSettings
from kiosk.backoff import Backoff
from kiosk.sync.errors import SyncError
from kiosk.sync.firebase import EMULATOR_ENV, SERVICE_ACCOUNT_CREDENTIAL, credentials_path, open_app
from kiosk.sync.status import SyncStatus, not_configured

URL = "https://my-project.firebaseio.com"


def test_defaults_are_off_and_valid() -> None:
    sync = SyncSettings()
    assert not sync.enabled and sync.heartbeat_s < sync.stream_silence_s


@pytest.mark.parametrize(
    "values, message",
    [
        ({"enabled": True}, "database_url is empty"),
        ({"database_url": "my-project.firebaseio.com"}, "https:// URL"),
        ({"kiosk_id": "hall/1"}, "database key"),
        ({"ring_jitter_s": 60.0, "catchup_interval_s": 30.0}, "shorter than catchup_interval_s"),
        ({"ring_jitter_s": -1.0}, "greater than or equal to 0"),
        ({"backoff_initial_s": 10.0, "backoff_max_s": 1.0}, "backoff_max_s"),
        ({"page_size": 0}, "greater than or equal to 1"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_bad_values_are_refused_with_the_reason(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SyncSettings(**values)


def test_systemd_credential_wins_over_the_config_file(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / SERVICE_ACCOUNT_CREDENTIAL).write_text("{}")
    sync = SyncSettings(database_url=URL, credentials_file="key.json")
    resolve = lambda p: tmp_path / p  # noqa: E731
    assert credentials_path(sync, resolve, {"CREDENTIALS_DIRECTORY": str(creds)}) == creds / SERVICE_ACCOUNT_CREDENTIAL
    assert credentials_path(sync, resolve, {"CREDENTIALS_DIRECTORY": str(tmp_path / "empty")}) == tmp_path / "key.json"
    assert credentials_path(SyncSettings(database_url=URL), resolve, {}) is None


def test_missing_or_broken_credentials_are_clear_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    resolve = lambda p: tmp_path / p  # noqa: E731
    with pytest.raises(SyncError, match="no Firebase credentials"):
        open_app(SyncSettings(database_url=URL), resolve, {})
    with pytest.raises(SyncError, match="not found"):
        open_app(SyncSettings(database_url=URL, credentials_file="nope.json"), resolve, {})
    (tmp_path / "bad.json").write_text(json.dumps({"type": "authorized_user"}))
    (tmp_path / "bad.json").chmod(0o600)
    with pytest.raises(SyncError, match="unusable"):
        open_app(SyncSettings(database_url=URL, credentials_file="bad.json"), resolve, {})


def test_emulator_needs_no_credentials(tmp_path: Path) -> None:
    app = open_app(SyncSettings(database_url=URL, kiosk_id="k1"), lambda p: tmp_path / p, {EMULATOR_ENV: "127.0.0.1:9"})
    try:
        assert app.options.get("httpTimeout") == 10.0
    finally:
        firebase_admin.delete_app(app)


def test_a_kiosk_connects_as_itself_the_administrator_as_the_service_account(tmp_path: Path) -> None:
    """The rules (database.rules.json) see a kiosk's requests as auth.uid = its kiosk id;
    the administrator's app has no override (the service account, not bound by them)."""
    environ = {EMULATOR_ENV: "127.0.0.1:9"}
    kiosk = open_app(SyncSettings(database_url=URL, kiosk_id="k1"), lambda p: tmp_path / p, environ)
    admin = open_app(SyncSettings(database_url=URL), lambda p: tmp_path / p, environ, as_admin=True)
    try:
        assert kiosk.options.get("databaseAuthVariableOverride") == {"uid": "k1"}
        assert admin.options.get("databaseAuthVariableOverride") is None
    finally:
        firebase_admin.delete_app(kiosk)
        firebase_admin.delete_app(admin)
    with pytest.raises(SyncError, match="sync.kiosk_id is empty"):
        open_app(SyncSettings(database_url=URL), lambda p: tmp_path / p, environ)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    import random

    backoff = Backoff(1.0, 60.0, random.Random(7))
    delays = [backoff.delay() for _ in range(10)]
    ceilings = [min(60.0, 2.0**n) for n in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    assert len({round(d / c, 3) for d, c in zip(delays, ceilings)}) > 5  # jittered, not fixed fractions
    backoff.reset()
    assert backoff.delay() <= 1.0


def test_status_lines() -> None:
    assert not_configured().line() == "sync not configured"
    assert SyncStatus(configured=True, state="online", pending_changes=2).line() == "sync online, 2 pending"
    line = SyncStatus(configured=True, state="offline", pending_changes=5, offline_since=0.0, detail="UnavailableError: down").line()
    assert line == "sync offline since 1970-01-01T00:00:00Z, 5 pending (UnavailableError: down)"


def test_the_units_stand_in_credential_counts_as_none(tmp_path) -> None:
    (tmp_path / SERVICE_ACCOUNT_CREDENTIAL).write_bytes(b"none")
    sync = SyncSettings()
    assert credentials_path(sync, Path, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None
    (tmp_path / SERVICE_ACCOUNT_CREDENTIAL).write_text('{"type": "service_account"}')
    assert credentials_path(sync, Path, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == tmp_path / SERVICE_ACCOUNT_CREDENTIAL

"""Secret files readable by others are refused at start-up, with the fix named.

The attack (issue 15): a template key file with mode 0644 was accepted, so anyone with a
shell on the kiosk could read the key that opens every face template (and the audit
log's email hashes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kiosk.errors import ConfigError
from kiosk.store import Store
from kiosk.store.templates import KEY_CREDENTIAL
from store_support import make_settings, write_key


def test_world_readable_template_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "template-key"
    write_key(key)
    key.chmod(0o644)
    with pytest.raises(ConfigError, match=r"template key .*template-key is readable by group or others \(mode 0644\): run chmod 600"):
        Store.open(make_settings(tmp_path), environ={})
    assert not (tmp_path / "state").exists()  # refused before anything was made
    key.chmod(0o640)
    with pytest.raises(ConfigError, match="mode 0640"):
        Store.open(make_settings(tmp_path), environ={})
    key.chmod(0o600)
    Store.open(make_settings(tmp_path), environ={}).close()


def test_credentials_directory_is_exempt(tmp_path: Path) -> None:
    """systemd makes credentials readable by the service only (and 0444 inside its view of
    them is normal for LoadCredential=): their mode is not second-guessed."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / KEY_CREDENTIAL).write_bytes(os.urandom(32))
    (creds / KEY_CREDENTIAL).chmod(0o444)
    write_key(tmp_path / "template-key")
    Store.open(make_settings(tmp_path, store={"key_file": ""}), environ={"CREDENTIALS_DIRECTORY": str(creds)}).close()


def test_world_readable_service_account_is_refused(tmp_path: Path) -> None:
    from kiosk.config import parse_config
    from kiosk.sync.firebase import open_app

    account = tmp_path / "service-account.json"
    account.write_text(json.dumps({"type": "service_account"}))
    account.chmod(0o644)
    settings = parse_config({"sync": {"database_url": "https://x.firebaseio.com", "credentials_file": "service-account.json"}}, tmp_path)
    with pytest.raises(ConfigError, match="Firebase service-account key .* chmod 600"):
        open_app(settings.sync, settings.resolve, environ={})


def test_daemon_refuses_world_readable_key(tmp_path: Path) -> None:
    """The service itself: one line, status 2 (systemd logs it and retries)."""
    from conftest import run_cli

    key = tmp_path / "template-key"
    write_key(key)
    key.chmod(0o644)
    config = tmp_path / "config.yml"
    config.write_text("store:\n  path: state/facekiosk.db\n  key_file: template-key\n")
    result = run_cli("--config", str(config), "users", "list")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "chmod 600" in result.stderr, result.stderr

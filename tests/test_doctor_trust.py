"""`facekiosk doctor`'s lines for issue 15: mail (relay answers, or emails unconfirmed),
secret file modes, the admin PIN."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from kiosk.commands.doctor import check_admin_pin, check_mail, check_secrets
from kiosk.store import Store
from mail_support import SmtpServer, free_port
from store_support import make_settings


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


def test_mail_line(tmp_path: Path, smtp: SmtpServer, monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    off = check_mail(make_settings(tmp_path))
    assert off.ok is None and "emails are unconfirmed" in off.detail
    settings = make_settings(tmp_path, mail=smtp.mail_settings())
    Store.open(settings).close()
    on = check_mail(settings)
    assert on.ok is True and "answers" in on.detail and "0 waiting" in on.detail, on
    down = check_mail(make_settings(tmp_path, mail=smtp.mail_settings(port=free_port())))
    assert down.ok is False and "ConnectionRefused" in down.detail and down.fix


def test_secrets_and_admin_pin_lines(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    settings = make_settings(tmp_path)
    assert check_secrets(settings).ok is True
    (tmp_path / "template-key").chmod(0o644)
    line = check_secrets(settings)
    assert line.ok is False and "mode 0644" in line.detail and "chmod 600" in line.fix
    assert check_admin_pin(settings).ok is None
    hashed = make_settings(tmp_path, ui={"admin_pin_hash": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("246813")})
    assert check_admin_pin(hashed).ok is True and "readable by all" in check_admin_pin(hashed).detail

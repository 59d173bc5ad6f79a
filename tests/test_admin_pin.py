"""The admin PIN: hashed, at least 6 digits, tries counted in the store across restarts
with a growing wait, every failure audited; `facekiosk admin set-pin` sets it.

The attacks (issue 15): the PIN sat in plain text in a world-readable config file; 4
digits were allowed; 3 tries per 5 minutes were counted in memory, so restarting the
kiosk (pulling its plug) gave 3 more; failures were not logged.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from kiosk.config import parse_config
from kiosk.errors import ConfigError, ValidationError
from kiosk.store import Store
from kiosk.store import admin_pin
from store_support import FakeClock, make_settings

PIN = "246813"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_tries_survive_a_restart_and_the_wait_grows(tmp_path: Path) -> None:
    pin_hash = CHEAP.hash(PIN)
    clock = FakeClock()
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        for expected in (1, 2):
            result = admin_pin.check(store, "000000", pin_hash)
            assert not result.ok and result.wait_s == 0 and result.failures == expected
    # The plug is pulled; the kiosk starts again. Before: a fresh set of tries.
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        third = admin_pin.check(store, "000000", pin_hash)
        assert third.failures == 3 and third.wait_s == admin_pin.FIRST_WAIT_S
        waiting = admin_pin.check(store, PIN, pin_hash)  # even the right PIN is not checked now
        assert not waiting.ok and 0 < waiting.wait_s <= admin_pin.FIRST_WAIT_S
    clock.advance(admin_pin.FIRST_WAIT_S + 1)
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        fourth = admin_pin.check(store, "999999", pin_hash)
        assert fourth.failures == 4 and fourth.wait_s == 2 * admin_pin.FIRST_WAIT_S  # doubling
        clock.advance(2 * admin_pin.FIRST_WAIT_S + 1)
        assert admin_pin.check(store, PIN, pin_hash).ok
        assert admin_pin.status(store).failures == 0  # cleared by the right PIN
        results = [(e.action, e.result) for e in store.audit.entries()]
    assert results == [("admin_pin", r) for r in ("fail", "fail", "fail", "locked", "fail", "ok")]
    reasons = [e.reason for e in Store.open(make_settings(tmp_path), clock=clock).audit.entries() if e.result == "fail"]
    assert reasons[-1] == "wrong admin PIN (4 in a row)"


def test_a_wall_clock_set_back_never_makes_the_wait_longer_than_its_cap(tmp_path: Path) -> None:
    clock = FakeClock()
    pin_hash = CHEAP.hash(PIN)
    with Store.open(make_settings(tmp_path), clock=clock) as store:
        for _ in range(40):
            clock.advance(10_000)
            admin_pin.check(store, "000000", pin_hash)
        clock.advance(-10 * 86400)
        assert 0 < admin_pin.status(store).wait_s <= admin_pin.MAX_WAIT_S


@pytest.mark.parametrize("pin, why", [("1234", "6 to 12 digits"), ("12a456", "digits only"), ("111111", "repeated"),
                                      ("123456", "run"), ("987654", "run"), ("9012345", "run"), ("1" * 13, "6 to 12")])
def test_weak_pins_are_refused(pin: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        admin_pin.check_pin_rules(pin)


@pytest.fixture
def set_pin(monkeypatch, capsys):
    """`facekiosk admin set-pin ARGS` with ``stdin`` typed in (in this process: the CLI's
    own main, exit status and output)."""
    import io

    from kiosk.cli import main

    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(["admin", "set-pin", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, out, err)

    return run


def test_set_pin_writes_a_private_hash_file(tmp_path: Path, set_pin) -> None:
    out = tmp_path / "admin-pin-hash"
    result = set_pin("--out", str(out), stdin=f"{PIN}\n{PIN}\n")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text().strip()
    assert text.startswith("$argon2id$") and PIN not in text and PasswordHasher().verify(text, PIN)
    # The credential is what the kiosk uses, whatever the config says; "none" is no credential.
    assert admin_pin.load_pin_hash("", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == text
    out.write_text("none")
    assert admin_pin.load_pin_hash("", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == ""
    out.write_text("2468")
    with pytest.raises(ConfigError, match="set-pin"):
        admin_pin.load_pin_hash("", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    printed = set_pin(stdin=f"{PIN}\n{PIN}\n")
    assert printed.returncode == 0 and printed.stdout.startswith("admin_pin_hash: '$argon2id$")


def test_set_pin_refusals_are_one_line(tmp_path: Path, set_pin) -> None:
    for stdin, fragment in ((f"{PIN}\n135790\n", "not the same"), ("1234\n1234\n", "6 to 12 digits"), ("", "no PIN")):
        result = set_pin("--out", str(tmp_path / "x"), stdin=stdin)
        assert result.returncode == 2 and fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1, result
        assert not (tmp_path / "x").exists()


def test_a_plain_pin_in_the_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="admin_pin .*replaced by admin_pin_hash.*set-pin"):
        parse_config({"ui": {"admin_pin": "2468"}}, tmp_path)
    with pytest.raises(ConfigError, match="ui.admin_pin_hash"):
        parse_config({"ui": {"admin_pin_hash": "2468"}}, tmp_path)
    assert parse_config({"ui": {"admin_pin_hash": CHEAP.hash(PIN)}}, tmp_path).ui.admin_pin_hash.startswith("$argon2id$")

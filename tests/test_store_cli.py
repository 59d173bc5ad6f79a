"""``facekiosk users ...`` and ``facekiosk audit`` run as a person would: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kiosk.config import load_config
from kiosk.store import Store
from store_support import MODEL, unit_vectors, write_key

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped config.yml with the database and key in a temp folder."""
    tmp = tmp_path_factory.mktemp("cli")
    data = yaml.safe_load((ROOT / "config.yml").read_text())
    data["models"]["dir"] = str(ROOT / "models")
    data["store"]["path"] = str(tmp / "facekiosk.db")
    data["store"]["key_file"] = str(tmp / "template-key")
    data["passwords"].update(argon2_time_cost=1, argon2_memory_kib=8)
    write_key(tmp / "template-key")
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(data))
    with Store.open(load_config(path)) as store:
        store.enroll("Ann@Example.org", "correct horse", unit_vectors(2, seed=1), MODEL)
        store.enroll("bob@example.org", "correct horse", unit_vectors(2, seed=2), MODEL)
        store.enroll("del@example.org", "correct horse", unit_vectors(2, seed=3), MODEL)
        with pytest.raises(Exception):
            store.sign_in_password("ann@example.org", "wrong horse")
    return path


def facekiosk(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FACEKIOSK_CONFIG", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")}
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "--config", str(config), *args],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facekiosk: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_users_list(config: Path) -> None:
    result = facekiosk(config, "users", "list")
    assert result.returncode == 0, result.stderr
    emails = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert {"Ann@example.org", "bob@example.org"} <= set(emails)
    data = json.loads(facekiosk(config, "users", "list", "--json").stdout)
    assert {u["email"] for u in data} >= {"Ann@example.org", "bob@example.org"}
    assert "$argon2" not in json.dumps(data)


def test_users_show(config: Path) -> None:
    result = facekiosk(config, "users", "show", "ANN@example.org")
    assert result.returncode == 0, result.stderr
    assert "email: Ann@example.org" in result.stdout and MODEL in result.stdout
    assert "1 recent failures" in result.stdout


def test_users_show_says_consent_and_email_confirmation(config: Path) -> None:
    from kiosk.store import mail as mail_store

    with Store.open(load_config(config)) as store:
        user = store.get_user("bob@example.org")
        mail_store.record_consent(store, user.id, "2026-11-1")
    result = facekiosk(config, "users", "show", "bob@example.org")
    assert result.returncode == 0, result.stderr
    assert "consent: version 2026-11-1, given 20" in result.stdout and "email: not confirmed" in result.stdout
    with Store.open(load_config(config)) as store:
        mail_store.set_confirmed(store, user.id)
    assert "email: confirmed 20" in facekiosk(config, "users", "show", "bob@example.org").stdout
    data = json.loads(facekiosk(config, "users", "show", "bob@example.org", "--json").stdout)
    assert data["consent_version"] == "2026-11-1" and data["email_confirmed_at"].endswith("Z")
    assert "consent: none recorded" in facekiosk(config, "users", "show", "ann@example.org").stdout


def test_users_show_errors(config: Path) -> None:
    assert_one_line_error(facekiosk(config, "users", "show", "nobody@example.org"), "no account with the email")
    assert_one_line_error(facekiosk(config, "users", "show", "not an email"), "email")
    assert_one_line_error(facekiosk(config, "users", "show", "x\x01@example.org"), "U+0001")


def test_users_export(config: Path, tmp_path: Path) -> None:
    result = facekiosk(config, "users", "export", "bob@example.org")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["email"] == "bob@example.org" and len(data["face_templates"]) == 2
    assert "$argon2" not in result.stdout
    out = tmp_path / "bob.json"
    assert facekiosk(config, "users", "export", "bob@example.org", "--output", str(out)).returncode == 0
    assert json.loads(out.read_text())["id"] == data["id"] and (out.stat().st_mode & 0o777) == 0o600


def test_users_delete(config: Path) -> None:
    assert_one_line_error(facekiosk(config, "users", "delete", "del@example.org"), "--yes")
    result = facekiosk(config, "users", "delete", "del@example.org", "--yes", "--reason", "asked")
    assert result.returncode == 0, result.stderr
    assert "deleted del@example.org" in result.stdout
    assert_one_line_error(facekiosk(config, "users", "show", "del@example.org"), "no account")
    assert_one_line_error(facekiosk(config, "users", "delete", "del@example.org", "--yes"), "no account")
    tombstones = json.loads(facekiosk(config, "users", "list", "--deleted", "--json").stdout)
    assert any(u["deleted_at"] and u["email"] is None for u in tombstones)


def test_audit(config: Path) -> None:
    result = facekiosk(config, "audit")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("\tenroll\tok\t#" in line for line in lines)
    assert any("\tsign_in_password\tfail\t" in line and "wrong password" in line for line in lines)
    assert "Ann@example.org" not in result.stdout  # hashed by default
    recent = facekiosk(config, "audit", "--since", "1h", "--email", "ann@example.org", "--json")
    assert recent.returncode == 0, recent.stderr
    actions = [json.loads(line)["action"] for line in recent.stdout.splitlines()]
    assert actions[:2] == ["enroll", "sign_in_password"]
    assert facekiosk(config, "audit", "--since", "2999-01-01").stdout == ""


def test_audit_errors(config: Path) -> None:
    assert_one_line_error(facekiosk(config, "audit", "--since", "last tuesday"), "--since")
    assert_one_line_error(facekiosk(config, "audit", "--limit", "0"), "--limit")


def test_missing_database_and_bad_config(config: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(config.read_text())
    data["store"]["path"] = str(tmp_path / "nowhere.db")
    other = tmp_path / "other.yml"
    other.write_text(yaml.safe_dump(data))
    assert_one_line_error(facekiosk(other, "users", "list"), "no user database")
    assert not (tmp_path / "nowhere.db").exists()
    data["store"]["pathh"] = "x"
    other.write_text(yaml.safe_dump(data))
    assert_one_line_error(facekiosk(other, "users", "list"), "store.pathh: unknown key")


@pytest.mark.slow
def test_users_review_lists_and_decides_held_sign_ups(tmp_path: Path, config: Path) -> None:
    """A sign-up held because its face looked like Ann's: listed with whom it looks like,
    approved by staff (its templates become the account's) or rejected (erased)."""
    settings = load_config(config)
    with Store.open(settings) as store:
        ann = store.get_user("ann@example.org")
        like_ann = lambda gallery, templates: type("M", (), {"owner": ann.id, "distance": -3.0})()  # noqa: E731
        store.enroll("held1@example.org", "correct horse", unit_vectors(2, seed=7), MODEL, duplicates=like_ann)
        store.enroll("held2@example.org", "correct horse", unit_vectors(2, seed=8), MODEL, duplicates=like_ann)
    listed = facekiosk(config, "users", "review")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["held1@example.org", "held2@example.org"]
    assert all(f"looks like {ann.id}" in line for line in lines)
    shown = facekiosk(config, "users", "show", "held1@example.org")
    assert "face: no face" in shown.stdout
    assert facekiosk(config, "users", "review", "--approve", "held1@example.org").returncode == 0
    assert facekiosk(config, "users", "review", "--reject", "held2@example.org").returncode == 0
    with Store.open(settings) as store:
        assert len(store.get_user("held1@example.org").templates) == 2
        assert store.get_user("held2@example.org").templates == ()
        assert store.held_for_review() == []
    again = facekiosk(config, "users", "review", "--approve", "held2@example.org")
    assert_one_line_error(again, "no enrollment")

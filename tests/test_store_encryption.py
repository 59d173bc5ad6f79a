"""Face templates at rest: AES-GCM, the template key, and what the files hold."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest

from kiosk.errors import StoreError
from kiosk.store import Store
from kiosk.store.templates import KEY_CREDENTIAL
from store_support import MODEL, execute, make_settings, unit_vectors


def _files(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((tmp_path / "state").glob("facekiosk.db*"))}


def _leaks(data: bytes, vector: np.ndarray) -> list[str]:
    """Ways the raw float32 bytes of ``vector`` appear in ``data``: whole, or any 8-byte run."""
    raw = vector.astype("<f4").tobytes()
    found = ["whole vector"] if raw in data else []
    found += [f"floats {i // 4}-{i // 4 + 1}" for i in range(0, len(raw) - 7, 4) if raw[i : i + 8] in data]
    return found


def test_database_and_wal_hold_no_raw_template_bytes(tmp_path: Path) -> None:
    known = unit_vectors(1, seed=42)[0]
    with Store.open(make_settings(tmp_path)) as store:
        store.enroll("ann@example.org", "correct horse", [known, unit_vectors(1, seed=43)[0]], MODEL)
        files = _files(tmp_path)  # before any checkpoint: the rows are in the -wal file
        assert set(files) >= {"facekiosk.db", "facekiosk.db-wal"} and len(files["facekiosk.db-wal"]) > 0
        for name, data in files.items():
            assert _leaks(data, known) == [], name
        execute(store, "PRAGMA wal_checkpoint(TRUNCATE)")
        assert _leaks(_files(tmp_path)["facekiosk.db"], known) == []
        # ...and the template still comes back exactly.
        _, matrix = store.face_templates("ann@example.org", MODEL)
        assert np.array_equal(matrix[0], known)


def test_the_leak_check_finds_unencrypted_templates(tmp_path: Path) -> None:
    """Control: with encryption off the same check does find the bytes."""
    known = unit_vectors(1, seed=42)[0]
    with Store.open(make_settings(tmp_path, store={"encrypt_templates": False, "key_file": ""})) as store:
        store.enroll("ann@example.org", "correct horse", [known], MODEL)
        assert "whole vector" in _leaks(b"".join(_files(tmp_path).values()), known)


def test_missing_key_is_a_clear_startup_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store={"key_file": ""})
    with pytest.raises(StoreError, match="no key was found.*template-key.*key_file"):
        Store.open(settings, environ={})
    missing = make_settings(tmp_path, store={"key_file": "nowhere/key"})
    with pytest.raises(StoreError, match="template key file not found"):
        Store.open(missing, environ={})
    assert not (tmp_path / "state").exists()  # nothing created before the check


def test_systemd_credential_wins_over_key_file(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / KEY_CREDENTIAL).write_bytes(os.urandom(32))
    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    with Store.open(make_settings(tmp_path), environ=environ) as store:
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    # The key_file holds another key: without the credential the database refuses it.
    with pytest.raises(StoreError, match="does not match"):
        Store.open(make_settings(tmp_path), environ={})
    with Store.open(make_settings(tmp_path), environ=environ) as store:
        assert store.face_templates("ann@example.org", MODEL)[1].shape == (1, 128)


@pytest.mark.parametrize("encode", [lambda k: k, lambda k: k.hex().encode() + b"\n", lambda k: base64.b64encode(k) + b"\n"])
def test_key_file_formats(tmp_path: Path, encode) -> None:
    key = os.urandom(32)
    (tmp_path / "template-key").write_bytes(encode(key))
    (tmp_path / "template-key").chmod(0o600)
    with Store.open(make_settings(tmp_path)) as store:
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
    (tmp_path / "template-key").write_bytes(key)  # the same key, raw: still opens
    with Store.open(make_settings(tmp_path)) as store:
        store.face_templates("ann@example.org", MODEL)


def test_short_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "template-key").write_bytes(b"too short\n")
    (tmp_path / "template-key").chmod(0o600)
    with pytest.raises(StoreError, match="not a 32-byte key"):
        Store.open(make_settings(tmp_path))


def test_template_moved_to_another_user_does_not_open(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        ann = store.enroll("ann@example.org", "correct horse", unit_vectors(1, seed=1), MODEL)
        bob = store.enroll("bob@example.org", "correct horse", unit_vectors(1, seed=2), MODEL)
        execute(store, "UPDATE templates SET blob = (SELECT blob FROM templates WHERE user_id = ?) WHERE user_id = ?", (ann.id, bob.id))
        with pytest.raises(StoreError, match="does not open"):
            store.face_templates("bob@example.org", MODEL)
        with pytest.raises(StoreError, match="does not open"):
            store.gallery(MODEL)  # the bulk loading path checks the same
        # Relabelling a template as another model is caught the same way.
        execute(store, "UPDATE templates SET model_id = 'x/y@z' WHERE user_id = ?", (ann.id,))
        with pytest.raises(StoreError, match="does not open"):
            store.face_templates("ann@example.org", "x/y@z")


def test_planted_plain_template_is_refused_when_encryption_is_on(tmp_path: Path) -> None:
    with Store.open(make_settings(tmp_path)) as store:
        ann = store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        planted = b"\x00" + unit_vectors(1, seed=9)[0].astype("<f4").tobytes()
        execute(store, "UPDATE templates SET blob = ? WHERE user_id = ?", (planted, ann.id))
        with pytest.raises(StoreError, match="unencrypted"):
            store.face_templates("ann@example.org", MODEL)
        with pytest.raises(StoreError, match="unencrypted"):
            store.gallery(MODEL)


def test_without_encryption_no_key_is_needed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store={"encrypt_templates": False, "key_file": ""})
    with Store.open(settings, environ={}) as store:
        store.enroll("ann@example.org", "correct horse", unit_vectors(1), MODEL)
        # Audit hashes then use a random secret kept in the database, never a bare hash.
        digest = store.audit.entries()[0].email_hash
        import hashlib

        assert digest and digest != hashlib.sha256(b"ann@example.org").hexdigest()

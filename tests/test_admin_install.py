"""Admin tools on the README's install act on the service's data.

The README installs the config in /etc/facekiosk and the service keeps its database in
its StateDirectory (/var/lib/facekiosk). Before issue 15, `facekiosk --config
/etc/facekiosk/config.yml users list` looked for /etc/facekiosk/var/facekiosk.db and
exited 2. Here the install runs in a temporary root R: every absolute path of the README
(and the one default naming one, store.service_state_dir) is put under R.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from kiosk.config import load_config
from kiosk.store import Store
from store_support import unit_vectors


def facekiosk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """As root at a shell: no systemd variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("FACEKIOSK_CONFIG", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY")}
    return subprocess.run([sys.executable, "-m", "kiosk", "--config", str(config), *args], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    etc = root / "etc" / "facekiosk"
    etc.mkdir(parents=True, mode=0o755)
    # install -m 0644 config.yml /etc/facekiosk/config.yml, then the README's edits.
    data = yaml.safe_load((REPO / "config.yml").read_text())
    data["models"]["dir"] = str(REPO / "models")  # models.dir: /opt/facekiosk/models
    data["store"]["key_file"] = "template-key"
    data["store"]["service_state_dir"] = str(root / "var" / "lib" / "facekiosk")  # its default, under R
    data["passwords"].update(argon2_time_cost=1, argon2_memory_kib=8)
    config = etc / "config.yml"
    config.write_text(yaml.safe_dump(data))
    config.chmod(0o644)
    # head -c 32 /dev/urandom > /etc/facekiosk/template-key && chmod 600 ...
    (etc / "template-key").write_bytes(os.urandom(32))
    (etc / "template-key").chmod(0o600)
    # systemctl start facekiosk: StateDirectory=facekiosk (0700), LoadCredential=template-key:...
    state = root / "var" / "lib" / "facekiosk"
    state.mkdir(parents=True, mode=0o700)
    creds = root / "run" / "credentials" / "facekiosk.service"
    creds.mkdir(parents=True)
    shutil.copy(etc / "template-key", creds / "template-key")
    (creds / "firebase-service-account").write_bytes(b"none")
    service_env = {"STATE_DIRECTORY": str(state), "CREDENTIALS_DIRECTORY": str(creds)}
    with Store.open(load_config(config), environ=service_env) as store:  # what `facekiosk run` opens
        store.enroll("ann@example.org", "correct horse battery", unit_vectors(2, seed=1), "m")
        store.enroll("bob@example.org", "correct horse battery", unit_vectors(2, seed=2), "m")
    assert (state / "facekiosk.db").is_file()
    return config, state / "facekiosk.db"


def test_admin_commands_act_on_the_service_database(installed: tuple[Path, Path]) -> None:
    config, database = installed
    listed = facekiosk(config, "users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "ann@example.org" in listed.stdout and "bob@example.org" in listed.stdout
    deleted = facekiosk(config, "users", "delete", "bob@example.org", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    audit = facekiosk(config, "audit")
    assert audit.returncode == 0, audit.stderr
    assert "delete" in audit.stdout and "enroll" in audit.stdout
    doctor = facekiosk(config, "doctor")
    store_line = next(line for line in doctor.stdout.splitlines() if "] store:" in line)
    assert store_line.startswith("[ok  ]") and str(database) in store_line and "1 users" in store_line, doctor.stdout
    assert not (config.parent / "var").exists()  # nothing made beside the config


def test_without_the_service_folder_the_reason_is_named(installed: tuple[Path, Path]) -> None:
    config, database = installed
    shutil.rmtree(database.parent)
    result = facekiosk(config, "users", "list")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "StateDirectory" in result.stderr and "store.path" in result.stderr, result.stderr

"""Admin tools on the README's install act on the service's data.

The README installs the config in /etc/facekiosk (`facekiosk install`) and the service
keeps its database in its StateDirectory (/var/lib/facekiosk). Before issue 15,
`facekiosk --config /etc/facekiosk/config.yml users list` looked for
/etc/facekiosk/var/facekiosk.db and exited 2. Here the install runs in a temporary root R
(`facekiosk install --root R`); the one config default naming a system path,
store.service_state_dir, is put under R too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    """`facekiosk install --root R --no-start`, then the service's first start as systemd
    runs it: StateDirectory=facekiosk, the unit's LoadCredential= files."""
    root = tmp_path / "root"
    result = subprocess.run([sys.executable, "-m", "kiosk", "install", "--root", str(root), "--no-start"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    etc = root / "etc" / "facekiosk"
    config = etc / "config.yml"
    # The one default naming a system path, mapped under R like the rest (and argon2 cheap).
    text = config.read_text()
    assert "service_state_dir: /var/lib/facekiosk\n" in text
    text = text.replace("service_state_dir: /var/lib/facekiosk\n", f"service_state_dir: {root}/var/lib/facekiosk\n")
    config.write_text(text.replace("argon2_memory_kib: 65536", "argon2_memory_kib: 8").replace("argon2_time_cost: 3", "argon2_time_cost: 1"))
    unit = (root / "etc" / "systemd" / "system" / "facekiosk.service").read_text()
    state = root / "var" / "lib" / "facekiosk"
    state.mkdir(parents=True, mode=0o700)
    creds = root / "run" / "credentials" / "facekiosk.service"
    creds.mkdir(parents=True)
    for line in unit.splitlines():  # LoadCredential=NAME:PATH, with SetCredential=NAME:none when absent
        if line.startswith("LoadCredential=") and ":" in line:
            name, _, path = line.split("=", 1)[1].partition(":")
            source = root / path.lstrip("/")
            (creds / name).write_bytes(source.read_bytes() if source.is_file() else b"none")
    service_env = {"STATE_DIRECTORY": str(state), "CREDENTIALS_DIRECTORY": str(creds)}
    with Store.open(load_config(config), environ=service_env) as store:  # what `facekiosk run` opens
        store.enroll("ann@example.org", "correct horse battery", unit_vectors(2, seed=1), "m")
        store.enroll("bob@example.org", "correct horse battery", unit_vectors(2, seed=2), "m")
    assert (state / "facekiosk.db").is_file()
    return config, state / "facekiosk.db"


@pytest.mark.slow
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

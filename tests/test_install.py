"""``facekiosk install`` into a temporary root: every file, mode and owner; idempotent;
--dry-run changes nothing; with a fleet it never makes a key of its own."""

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kiosk.commands.install import set_value
from kiosk.config import load_config

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemctl is not installed")


def install(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "install", "--root", str(root), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def tree(root: Path) -> dict[str, tuple[int, int, int, bytes | str]]:
    """path -> (mode, uid, gid, content or link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            content: bytes | str = os.readlink(path)
        elif path.is_file():
            content = path.read_bytes()
        else:
            content = "dir"
        out[str(path.relative_to(root))] = (st.st_mode & 0o7777, st.st_uid, st.st_gid, content)
    return out


def test_install_writes_every_file_with_its_mode_and_owner(tmp_path):
    result = install(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    files = tree(tmp_path)
    uid, gid = os.geteuid(), os.getegid()
    expected_modes = {
        "etc/facekiosk": 0o755,
        "etc/facekiosk/config.yml": 0o644,
        "etc/facekiosk/template-key": 0o600,
        "etc/systemd/system": 0o755,
        "etc/systemd/system/facekiosk.service": 0o644,
    }
    for path, mode in expected_modes.items():
        assert path in files, (path, sorted(files))
        assert files[path][0] == mode, (path, oct(files[path][0]))
        assert files[path][1:3] == (uid, gid), path
    assert len(files["etc/facekiosk/template-key"][3]) == 32
    link = files["etc/systemd/system/multi-user.target.wants/facekiosk.service"][3]
    assert link == "/etc/systemd/system/facekiosk.service"
    # No stray temporary files from the atomic writes.
    assert not [name for name in files if "/." in name or name.startswith(".")], sorted(files)

    unit = (tmp_path / "etc/systemd/system/facekiosk.service").read_text()
    assert f"ExecStart={REPO}/.venv/bin/facekiosk --config /etc/facekiosk/config.yml run" in unit
    assert "LoadCredential=template-key:/etc/facekiosk/template-key" in unit

    config = tmp_path / "etc/facekiosk/config.yml"
    settings = load_config(config)
    assert settings.resolve(settings.models.dir) == REPO / "models"
    assert settings.resolve(settings.store.key_file) == tmp_path / "etc/facekiosk/template-key"
    # Comments survive: it is the documented config.yml with two values set.
    assert config.read_text().count("#") == (REPO / "config.yml").read_text().count("#")


def test_the_installed_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    assert install(tmp_path).returncode == 0
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "etc/systemd/system/facekiosk.service")],
                            capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and missing binaries: any line is a problem.
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_install_twice_changes_nothing(tmp_path):
    assert install(tmp_path).returncode == 0
    before = tree(tmp_path)
    again = install(tmp_path)
    assert again.returncode == 0, again.stderr
    assert tree(tmp_path) == before
    assert "changed: 0 item(s)" in again.stdout


def test_an_edited_config_and_the_key_are_kept(tmp_path):
    assert install(tmp_path).returncode == 0
    config = tmp_path / "etc/facekiosk/config.yml"
    config.write_text(config.read_text().replace("  max_yaw_deg: 25", "  max_yaw_deg: 30"))
    key = (tmp_path / "etc/facekiosk/template-key").read_bytes()
    result = install(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "max_yaw_deg: 30" in config.read_text()
    assert (tmp_path / "etc/facekiosk/template-key").read_bytes() == key


def test_a_loose_key_is_tightened(tmp_path):
    assert install(tmp_path).returncode == 0
    key = tmp_path / "etc/facekiosk/template-key"
    key.chmod(0o644)
    result = install(tmp_path)
    assert result.returncode == 0 and "chmod" in result.stdout
    assert key.stat().st_mode & 0o777 == 0o600


def test_dry_run_changes_nothing(tmp_path):
    result = install(tmp_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    for word in ("would mkdir", "would write", "would create", "would run"):
        assert word in result.stdout


def test_an_unloadable_existing_config_is_one_line_and_status_2(tmp_path):
    (tmp_path / "etc/facekiosk").mkdir(parents=True)
    (tmp_path / "etc/facekiosk/config.yml").write_text("quality:\n  max_yaw_degs: 3\n")
    result = install(tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "max_yaw_degs" in result.stderr
    assert not (tmp_path / "etc/facekiosk/template-key").exists()


def test_with_a_fleet_no_key_is_made(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    root_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    text = (REPO / "config.yml").read_text()
    text = set_value(text, "sync", "enabled", "true")
    text = set_value(text, "sync", "database_url", "https://example-fleet.firebaseio.com")
    text = set_value(text, "sync", "fleet_root_key", root_key)
    source = tmp_path / "fleet.yml"
    source.write_text(text)
    root = tmp_path / "root"
    result = install(root, "--from-config", str(source))
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (root / "etc/facekiosk/template-key").exists()
    assert "fleet join" in result.stdout
    assert yaml.safe_load((root / "etc/facekiosk/config.yml").read_text())["sync"]["fleet_root_key"] == root_key
    # Once `fleet join` has written the fleet's key, install keeps it and finishes.
    key = os.urandom(32)
    (root / "etc/facekiosk/template-key").write_bytes(key)
    (root / "etc/facekiosk/template-key").chmod(0o600)
    result = install(root, "--from-config", str(source))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "etc/facekiosk/template-key").read_bytes() == key

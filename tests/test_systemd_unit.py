"""The shipped unit file: valid for systemd, hardened, and the check itself can fail."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "facekiosk.service"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def installed_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointing at this checkout's console script (verify checks
    that the binary exists)."""
    text = text if text is not None else UNIT.read_text()
    script = Path(sys.executable).parent / "facekiosk"
    path = tmp_path / "facekiosk.service"
    path.write_text(text.replace("/opt/facekiosk/.venv/bin/facekiosk", str(script)))
    return path


def verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)


def test_unit_verifies_without_any_warning(tmp_path):
    result = verify(installed_copy(tmp_path))
    # systemd-analyze exits 0 on unknown keys: any line it prints is a problem.
    assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr


def test_the_check_catches_a_typo(tmp_path):
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    result = verify(installed_copy(tmp_path, text))
    assert "Unknown key" in result.stderr


def test_security_exposure_is_at_most_3(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(installed_copy(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0


def test_unit_has_the_required_settings():
    text = UNIT.read_text()
    for line in (
        "Type=notify", "WatchdogSec=", "Restart=on-failure", "DynamicUser=yes",
        "SupplementaryGroups=video render input", "StateDirectory=facekiosk", "ProtectSystem=strict",
        "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=", "SystemCallFilter=@system-service", "LoadCredential=template-key:",
        "LoadCredential=firebase-service-account:", "SDL_VIDEODRIVER=kmsdrm", "DeviceAllow=char-drm",
        "DeviceAllow=char-video4linux",
    ):
        assert line in text, line

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
    """systemd-analyze verify exits 0 on an unknown key: only its stderr shows it."""
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    result = verify(installed_copy(tmp_path, text))
    assert "Unknown key" in result.stderr


def exposure(path: Path) -> float:
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(path)], capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def test_security_exposure_is_at_most_2(tmp_path):
    assert exposure(installed_copy(tmp_path)) <= 2.0


def test_the_exposure_check_can_fail(tmp_path):
    loose = "\n".join(line for line in UNIT.read_text().splitlines()
                      if not line.startswith(("ProtectSystem=", "ProtectHome=", "PrivateTmp=", "NoNewPrivileges=", "CapabilityBoundingSet=",
                                              "SystemCallFilter=", "RestrictNamespaces=", "DynamicUser=")))
    assert exposure(installed_copy(tmp_path, loose)) > 2.0


def test_cpu_description_stays_readable():
    """LiteRT's XNNPACK reads /proc/cpuinfo and /sys/devices/system/cpu to pick its kernels
    on ARM: nothing in the unit may hide them."""
    settings = [line.strip() for line in UNIT.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert not any(line.startswith("ProcSubset=") and line != "ProcSubset=all" for line in settings)
    for line in settings:
        if line.startswith(("InaccessiblePaths=", "TemporaryFileSystem=", "BindPaths=", "BindReadOnlyPaths=")):
            assert "/proc" not in line and "/sys/devices/system/cpu" not in line and "/sys " not in line, line


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

"""KMSDRM's system libraries: the Makefile installs what kiosk/display_libs.py names, they
load here, doctor names the package when one is missing, and where a DRM device exists
SDL's kmsdrm driver starts."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import display_libs
from kiosk.commands import doctor

REPO = Path(__file__).resolve().parents[1]


def makefile_variable(name: str) -> list[str]:
    match = re.search(rf"^{name} := (.*)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1).split()


def test_the_makefile_installs_every_package_the_check_names():
    assert set(display_libs.PACKAGES) <= set(makefile_variable("DISPLAY_PACKAGES"))
    assert "$(DISPLAY_PACKAGES)" in makefile_variable("APT_PACKAGES")


def test_every_kmsdrm_library_loads_here():
    """Runs everywhere: `make test` installed the packages, so each soname must load."""
    assert display_libs.missing_libraries() == []


def test_the_libraries_are_the_ones_sdl_opens():
    """The sonames come from pygame-ce's own SDL build: if a new SDL opens another one,
    this fails and the list (and the Makefile) must grow."""
    import pygame

    libs = Path(pygame.__file__).resolve().parent.parent / "pygame_ce.libs"
    sdl = next(libs.glob("libSDL2-*.so*"))
    names = set(re.findall(rb"lib(?:drm|gbm|EGL|GLESv2)\.so\.\d+", sdl.read_bytes()))
    assert {name.decode() for name in names} <= set(display_libs.LIBRARIES)
    assert names, "pygame-ce's SDL no longer names libdrm/libgbm/EGL/GLES: is KMSDRM still built in?"


def test_doctor_names_the_package_of_a_missing_library(monkeypatch):
    def load(soname: str) -> object:
        if soname == "libgbm.so.1":
            raise OSError("libgbm.so.1: cannot open shared object file: No such file or directory")
        return object()

    real = display_libs.missing_libraries
    monkeypatch.setattr(display_libs, "missing_libraries", lambda: real(load, ("/nonexistent/dri/*_dri.so",)))
    check = doctor.check_display_libraries()
    assert check.ok is False
    assert "libgbm.so.1" in check.detail and "Mesa DRI drivers" in check.detail
    assert "libgbm1" in check.fix and "libgl1-mesa-dri" in check.fix and "libdrm2" not in check.fix


def test_doctor_passes_when_all_load():
    check = doctor.check_display_libraries()
    assert check.ok is True, check.line()


@pytest.mark.skipif(not display_libs.drm_devices(), reason="no DRM device (/dev/dri/card*) on this machine")
def test_kmsdrm_driver_starts_on_a_real_drm_device():
    code = "import pygame; pygame.display.init(); print(pygame.display.get_driver())"
    env = dict(os.environ, SDL_VIDEODRIVER="kmsdrm")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "kmsdrm", result.stderr

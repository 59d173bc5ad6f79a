"""What SDL's KMSDRM video driver (pygame-ce's wheel) loads from the system at run time.

The wheel carries SDL itself but opens these shared libraries with ``dlopen`` when the
KMSDRM driver starts: without any of them ``SDL_VIDEODRIVER=kmsdrm`` fails with "kmsdrm
not available" and nothing says why. Package names are Debian 12's, which Raspberry Pi
OS (bookworm) shares, on amd64 and arm64 alike; the Makefile's APT_PACKAGES installs them
(a test checks the two lists agree).
"""

from __future__ import annotations

import ctypes
import glob
import os
from dataclasses import dataclass
from typing import Callable

# soname -> the Debian package that provides it.
LIBRARIES: dict[str, str] = {
    "libdrm.so.2": "libdrm2",  # the kernel's DRM/KMS interface
    "libgbm.so.1": "libgbm1",  # buffers to scan out
    "libEGL.so.1": "libegl1",  # EGL dispatch (glvnd)
    "libGLESv2.so.2": "libgles2",  # GLES dispatch (glvnd): SDL's renderer
    "libEGL_mesa.so.0": "libegl-mesa0",  # the EGL vendor that drives the GPU
}
# The GPU drivers themselves (v3d/vc4 on a Pi 5, iris/radeonsi/... on x86, kms_swrast).
DRI_PACKAGE = "libgl1-mesa-dri"
PACKAGES: tuple[str, ...] = (*LIBRARIES.values(), DRI_PACKAGE)
DRI_GLOBS = ("/usr/lib/*-linux-gnu/dri/*_dri.so", "/usr/lib/dri/*_dri.so", "/usr/lib64/dri/*_dri.so")


@dataclass(frozen=True)
class Missing:
    what: str  # a soname, or "Mesa DRI drivers"
    package: str
    error: str


def missing_libraries(load: Callable[[str], object] = ctypes.CDLL, dri_globs: tuple[str, ...] = DRI_GLOBS) -> list[Missing]:
    """Every library KMSDRM needs that does not load here (empty: all present)."""
    missing: list[Missing] = []
    for soname, package in LIBRARIES.items():
        try:
            load(soname)
        except OSError as err:
            missing.append(Missing(soname, package, str(err)))
    if not any(glob.glob(pattern) for pattern in dri_globs):
        missing.append(Missing("Mesa DRI drivers", DRI_PACKAGE, "no *_dri.so under " + ", ".join(dri_globs)))
    return missing


def install_hint(missing: list[Missing]) -> str:
    packages = " ".join(dict.fromkeys(item.package for item in missing))
    return f"apt-get install {packages}  (or run 'make apt-deps' in the checkout)"


def drm_devices() -> list[str]:
    """The DRM display nodes here (/dev/dri/card*); empty on a machine without a GPU."""
    return sorted(glob.glob("/dev/dri/card*")) if os.path.isdir("/dev/dri") else []

"""Hostile files in an image folder the camera reads (camera.source: images): checked
from their header like `facekiosk verify`'s (kiosk.vision.image_io), skipped with one
log line, never decoded, never crashing the grabber.

The attack (issue 15): the 380 KB PNG that declares 20000 x 20000 pixels, dropped into
the folder. Before, the folder source decoded it with cv2.imread (a 1.2 GB frame, 2.3 GB
peak RSS, and kept in its cache) and handed it to the face pipeline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from kiosk.camera import FrameGrabber, ImageFolderSource
from kiosk.camera.scripted import PERSON_A, person_frames, write_folder
from kiosk.vision.image_io import ImageLimits
from test_hostile_images import bomb_png


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Two good frames with the bomb between them (000.png, 000b-bomb.png, 001.png)."""
    path = write_folder(person_frames(PERSON_A)[:2], tmp_path_factory.mktemp("camera") / "frames")
    bomb = bomb_png(path / "000b-bomb.png", 20000, 20000)
    assert 300_000 < bomb.stat().st_size < 450_000  # the 380 KB case
    return path


def camera_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kiosk.camera"]


def test_the_bomb_is_skipped_with_one_line_and_the_others_shown(folder: Path, caplog) -> None:
    source = ImageFolderSource(folder, fps=1000, loop=True)
    frames = [source.read() for _ in range(7)]  # three and a half passes over the folder
    assert [f.shape for f in frames] == [(480, 640, 3)] * 7
    [line] = camera_lines(caplog)
    assert "000b-bomb.png" in line and "20000x20000" in line and "max_pixels" in line, line
    source.close()


def test_the_other_header_checks_apply_too(tmp_path: Path, caplog) -> None:
    """File-size cap and unsupported type, as for `facekiosk verify`."""
    write_folder(person_frames(PERSON_A)[:1], tmp_path)
    (tmp_path / "big.png").write_bytes((tmp_path / "000.png").read_bytes() + bytes(2000))
    (tmp_path / "tiff.jpg").write_bytes(b"II*\x00" + bytes(100))  # a TIFF named .jpg
    source = ImageFolderSource(tmp_path, fps=1000, limits=ImageLimits(max_file_bytes=(tmp_path / "000.png").stat().st_size + 1000))
    assert all(source.read() is not None for _ in range(4))
    lines = camera_lines(caplog)
    assert len(lines) == 2, lines
    assert any("big.png" in line and "max_file_bytes" in line for line in lines)
    assert any("tiff.jpg" in line and "not an image of a supported type" in line for line in lines)


def test_the_grabber_goes_on_past_the_bomb(folder: Path, caplog) -> None:
    grabber = FrameGrabber(ImageFolderSource(folder, fps=100)).start()
    try:
        deadline = time.monotonic() + 5
        while (grabber.latest() is None or grabber.latest().seq < 10) and time.monotonic() < deadline:
            time.sleep(0.02)
        latest = grabber.latest()
        assert latest is not None and latest.seq >= 10 and latest.image.shape == (480, 640, 3)
        assert grabber.error is None
    finally:
        grabber.close()
    assert len(camera_lines(caplog)) == 1


def test_the_configured_limits_reach_the_kiosks_camera(tmp_path: Path, folder: Path) -> None:
    """open_source and reopening_source (the kiosk's wiring) take the images section."""
    from kiosk.camera import open_source
    from kiosk.camera.resilient import reopening_source
    from kiosk.config.camera import CameraSettings

    camera = CameraSettings(source="images", path=str(folder), fps=240)
    tight = ImageLimits(max_pixels=100)  # smaller than every frame: nothing readable
    with pytest.raises(Exception, match="none of its 3 images can be read"):
        open_source(camera, limits=tight).read()
    source = reopening_source(camera, limits=tight)
    with pytest.raises(Exception, match="none of its 3 images"):
        source.read()
    source.close()


# VmHWM, the peak RSS of this process's own memory since its exec: getrusage's ru_maxrss
# would also carry the peak of the forked pytest process it started as.
PEAK = """
import re, sys, time
from kiosk.camera import ImageFolderSource
source = ImageFolderSource(sys.argv[1], fps=1000, loop=True)
start = time.perf_counter()
shapes = {source.read().shape for _ in range(9)}
print("SHAPES", sorted(shapes), "SECONDS", round(time.perf_counter() - start, 3))
with open("/proc/self/status") as status:
    print("PEAK_RSS_KIB", re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
"""


def test_peak_memory_of_reading_a_folder_with_the_bomb(folder: Path) -> None:
    """In a fresh interpreter: three passes over the folder stay at the footprint of the
    imports (OpenCV, NumPy) and two VGA frames; decoding the bomb would be 1.2 GB."""
    result = subprocess.run([sys.executable, "-c", PEAK, str(folder)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    peak_kib = int(next(line for line in result.stdout.splitlines() if line.startswith("PEAK_RSS_KIB")).split()[1])
    print(result.stdout.strip(), f"-> peak RSS {peak_kib / 1024:.0f} MB")
    assert "SHAPES [(480, 640, 3)]" in result.stdout, result.stdout
    assert peak_kib < 300 * 1024, peak_kib


def test_the_kiosk_wires_the_images_section_into_its_camera(tmp_path: Path, folder: Path, pipeline, caplog) -> None:
    """build_kiosk with camera.source images: the kiosk's grabber skips the bomb with the
    configured limits; with images.max_pixels below a VGA frame it reads nothing and says
    why (so the section, not a default, decides)."""
    import pygame

    from kiosk.assembly import Overrides, build_kiosk
    from ui_support import store_settings

    pygame.display.init()
    surface = pygame.display.set_mode((800, 480))
    for max_pixels, expect in ((40_000_000, "frames"), (640 * 480 - 1, "none of its 3 images")):
        caplog.clear()
        home = tmp_path / str(max_pixels)
        home.mkdir()
        settings = store_settings(home, camera={"source": "images", "path": str(folder), "fps": 30},
                                  images={"max_pixels": max_pixels})
        kiosk = build_kiosk(settings, Overrides(surface=surface, pipeline=pipeline, sync=False))
        try:
            assert kiosk.grabber is not None
            deadline = time.monotonic() + 10
            if expect == "frames":
                while (kiosk.grabber.latest() is None or kiosk.grabber.latest().seq < 5) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert kiosk.grabber.latest().image.shape == (480, 640, 3) and kiosk.grabber.error is None
                assert len(camera_lines(caplog)) == 1
            else:
                while kiosk.grabber.error is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert kiosk.grabber.latest() is None
                assert expect in (kiosk.grabber.error or ""), kiosk.grabber.error
        finally:
            kiosk.close(timeout=10)

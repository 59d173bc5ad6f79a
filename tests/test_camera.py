"""Frame sources: image folder and video file (read back, looping, pacing), V4L2 errors,
the grabber thread, and the camera config section."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kiosk.camera import CameraError, FrameGrabber, ImageFolderSource, Pacer, V4L2Source, VideoFileSource, open_source
from kiosk.camera.scripted import PERSON_A, person_frames, write_folder, write_video
from kiosk.config.camera import CameraSettings


class FakeTime:
    """A clock and a sleep that only move when told: pacing is checked exactly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 9))
        self.now += seconds


def solid_frames(count: int, size=(64, 48)) -> list[np.ndarray]:
    """Frames of distinct flat colours, recognisable after JPEG compression."""
    frames = []
    for i in range(count):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[..., 0] = 20 * i  # red rises frame by frame
        frame[..., 2] = 200 - 20 * i
        frames.append(frame)
    return frames


def test_pacer_spaces_reads_by_the_frame_period():
    t = FakeTime()
    pacer = Pacer(20.0, clock=t.clock, sleep=t.sleep)
    for _ in range(4):
        pacer.wait()
    assert t.slept == [0.05, 0.05, 0.05]


def test_pacer_does_not_burst_after_a_stall():
    t = FakeTime()
    pacer = Pacer(10.0, clock=t.clock, sleep=t.sleep)
    pacer.wait()
    t.now += 1.0  # the reader stalled for ten frame periods
    pacer.wait()
    pacer.wait()
    assert t.slept == [0.1], "after a stall the next frame waits one period, not zero"


def test_image_folder_reads_in_name_order_as_rgb_and_loops(tmp_path):
    frames = person_frames(PERSON_A)[:3]
    write_folder(frames, tmp_path / "seq")
    t = FakeTime()
    source = ImageFolderSource(tmp_path / "seq", fps=10, loop=True, pacer=Pacer(10, t.clock, t.sleep))
    got = [source.read() for _ in range(5)]
    for i, frame in enumerate(got):
        np.testing.assert_array_equal(frame, frames[i % 3])  # PNG is lossless, channels RGB
    assert t.slept == [0.1] * 4
    source.close()


def test_image_folder_without_loop_ends(tmp_path):
    write_folder(solid_frames(2), tmp_path / "seq")
    source = ImageFolderSource(tmp_path / "seq", fps=1000, loop=False)
    assert source.read() is not None and source.read() is not None
    assert source.read() is None


def test_image_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        ImageFolderSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(CameraError, match="holds no images"):
        ImageFolderSource(tmp_path / "empty")


def test_image_folder_unreadable_image(tmp_path, caplog):
    """A damaged file is skipped with one line (the folder's other images go on); a
    folder where nothing can be read is a CameraError naming it and why."""
    write_folder(solid_frames(2), tmp_path / "seq")
    (tmp_path / "seq" / "000b.png").write_bytes(b"not a png")
    source = ImageFolderSource(tmp_path / "seq", fps=1000)
    frames = [source.read() for _ in range(6)]
    assert all(frame is not None and frame.shape == (48, 64, 3) for frame in frames)
    [line] = [r.getMessage() for r in caplog.records if r.name == "kiosk.camera"]
    assert "000b.png" in line and "not an image of a supported type" in line
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "000.png").write_bytes(b"not a png")
    source = ImageFolderSource(tmp_path / "bad", fps=1000)
    with pytest.raises(CameraError, match="none of its 1 images can be read.*000.png"):
        source.read()


def test_video_file_reads_frames_at_its_rate_and_loops(tmp_path):
    frames = solid_frames(6)
    path = write_video(frames, tmp_path / "clip.avi", fps=20)
    t = FakeTime()
    source = VideoFileSource(path, loop=True, pacer=Pacer(20, t.clock, t.sleep))
    assert source.fps == pytest.approx(20)
    reds = []
    for _ in range(9):
        frame = source.read()
        assert frame is not None and frame.shape == (48, 64, 3)
        reds.append(int(round(frame[..., 0].mean() / 20)))
    assert reds == [0, 1, 2, 3, 4, 5, 0, 1, 2], "RGB order kept, and the file starts again at its end"
    assert t.slept == [0.05] * 8
    source.close()
    assert source.read() is None


def test_video_file_without_loop_ends(tmp_path):
    path = write_video(solid_frames(3), tmp_path / "clip.avi", fps=1000)
    source = VideoFileSource(path, loop=False)
    assert [source.read() is not None for _ in range(4)] == [True, True, True, False]


def test_video_file_errors(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        VideoFileSource(tmp_path / "none.avi")
    (tmp_path / "bad.avi").write_bytes(b"\0" * 100)
    with pytest.raises(CameraError, match="cannot open video file"):
        VideoFileSource(tmp_path / "bad.avi")


def test_v4l2_missing_device_is_a_clear_error(tmp_path):
    # No camera on this machine: only the failure path can be tested here.
    with pytest.raises(CameraError, match="cannot open camera .*nothing-here"):
        V4L2Source(str(tmp_path / "nothing-here"))


def test_open_source_follows_the_config(tmp_path):
    write_folder(solid_frames(2), tmp_path / "seq")
    write_video(solid_frames(2), tmp_path / "clip.avi", fps=15)
    resolve = lambda p: tmp_path / p  # noqa: E731 - the config resolves relative paths the same way
    source = open_source(CameraSettings(source="images", path="seq", fps=12), resolve)
    assert isinstance(source, ImageFolderSource) and source.fps == 12
    source = open_source(CameraSettings(source="video", path="clip.avi"), resolve)
    assert isinstance(source, VideoFileSource) and source.fps == pytest.approx(15)
    source.close()
    with pytest.raises(CameraError, match="camera.path"):
        open_source(CameraSettings(source="video"), resolve)


def test_camera_settings_validation():
    assert CameraSettings().fourcc == "MJPG"
    assert CameraSettings(fourcc="").fourcc == ""
    for bad in ({"fourcc": "MJPEG"}, {"fps": 0.0}, {"source": "usb"}, {"width": 8}):
        with pytest.raises(Exception):
            CameraSettings(**bad)


def test_grabber_keeps_the_newest_frame_and_measures_fps(tmp_path):
    write_folder(solid_frames(4), tmp_path / "seq")
    grabber = FrameGrabber(ImageFolderSource(tmp_path / "seq", fps=50)).start()
    try:
        deadline = time.monotonic() + 5
        while (grabber.latest() is None or grabber.latest().seq < 10) and time.monotonic() < deadline:
            time.sleep(0.02)
        first = grabber.latest()
        assert first is not None and first.seq >= 10
        time.sleep(0.1)
        assert grabber.latest().seq > first.seq
        assert grabber.fps > 0 and grabber.error is None
    finally:
        grabber.close()


def test_grabber_reports_a_source_that_stops(tmp_path):
    write_folder(solid_frames(2), tmp_path / "seq")
    grabber = FrameGrabber(ImageFolderSource(tmp_path / "seq", fps=200, loop=False), retry_s=0.01).start()
    try:
        deadline = time.monotonic() + 5
        while grabber.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert grabber.error == "the camera gives no pictures"
        assert grabber.latest().seq == 2
    finally:
        grabber.close()

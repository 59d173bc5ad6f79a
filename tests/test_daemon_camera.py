"""The reopening camera source: real image folders removed and restored, failing sources,
the backoff schedule, and the grabber's "camera unavailable" state around a loss."""

from __future__ import annotations

import random
import shutil
import time

import numpy as np
import pytest

from kiosk.camera.grabber import FrameGrabber
from kiosk.backoff import Backoff
from kiosk.camera.resilient import ReopeningSource, presence_check, reopening_source
from kiosk.camera.scripted import PERSON_A, person_frames, write_folder
from kiosk.camera.sources import CameraError
from kiosk.config.camera import CameraSettings


@pytest.fixture
def folder(tmp_path):
    return write_folder(person_frames(PERSON_A)[:3], tmp_path / "frames")


def read_until(source, predicate, timeout=5.0):
    """Read until ``predicate(result)``; a raised CameraError counts as the result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = source.read()
        except CameraError as err:
            result = err
        if predicate(result):
            return result
        time.sleep(0.005)
    raise AssertionError("timed out")


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter():
    plain = Backoff(0.5, 10.0, jitter=0.0)
    assert [plain.delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    plain.reset()
    assert plain.delay() == 0.5
    jittered = Backoff(0.5, 10.0, jitter=0.2, rng=random.Random(1))
    delays = [jittered.delay() for _ in range(40)]
    assert 0.4 <= delays[0] <= 0.6 and all(d <= 10.0 for d in delays)
    assert len({round(d, 6) for d in delays[6:]}) > 1, "capped delays still vary (no fleet-wide lockstep)"


def test_removed_folder_is_reported_then_recovered(folder):
    settings = CameraSettings(source="images", path=str(folder), fps=200.0)
    events = []
    source = reopening_source(settings, on_lost=lambda r: events.append(("lost", r)), on_recovered=lambda s: events.append(("back", s)),
                              presence_every_s=0.05, backoff=Backoff(0.02, 0.1, jitter=0.0))
    for _ in range(4):  # every image read once: all are cached in memory from now on
        assert isinstance(read_until(source, lambda r: isinstance(r, np.ndarray)), np.ndarray)
    assert events == []

    hidden = folder.with_name("hidden")
    folder.rename(hidden)  # the folder is taken away: only the presence check can tell
    err = read_until(source, lambda r: isinstance(r, CameraError))
    assert "disappeared" in str(err)
    assert events and events[0][0] == "lost" and not source.available
    read_until(source, lambda r: isinstance(r, CameraError) and "does not exist" in str(r))  # reopen tried, failed

    hidden.rename(folder)
    frame = read_until(source, lambda r: isinstance(r, np.ndarray))
    assert frame.shape == (480, 640, 3)
    assert [kind for kind, _ in events] == ["lost", "back"] and source.reopens == 1 and source.available
    source.close()


class Flaky:
    """A source that gives ``good`` frames, then fails the way ``failure`` says."""

    opened = 0

    def __init__(self, good: int, failure: str) -> None:
        Flaky.opened += 1
        self.left = good
        self.failure = failure
        self.fps = 30.0
        self.closed = False

    def read(self):
        if self.left > 0:
            self.left -= 1
            return np.zeros((4, 4, 3), np.uint8)
        if self.failure == "raise":
            raise OSError("device disconnected")
        return None

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("failure", ["raise", "empty"])
def test_a_failing_source_is_closed_and_opened_again(failure):
    Flaky.opened = 0
    made = []

    def factory():
        made.append(Flaky(2, failure))
        return made[-1]

    source = ReopeningSource(factory, backoff=Backoff(0.01, 0.05, jitter=0.0), empty_reads_to_fail=3)
    frames = 0
    deadline = time.monotonic() + 5
    while Flaky.opened < 3 and time.monotonic() < deadline:
        try:
            frames += source.read() is not None
        except CameraError as err:
            assert "disconnected" in str(err) or "not open" in str(err) or "no pictures" in str(err)
        time.sleep(0.002)
    assert Flaky.opened >= 3 and frames >= 4
    assert all(old.closed for old in made[:-1]), "a failed source is closed before the next is opened"
    source.close()
    assert made[-1].closed and source.read() is None


def test_factory_failures_are_retried_with_growing_delays():
    attempts = []

    def factory():
        attempts.append(time.monotonic())
        raise CameraError("cannot open camera /dev/video9")

    source = ReopeningSource(factory, backoff=Backoff(0.02, 0.16, jitter=0.0))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        with pytest.raises(CameraError, match="video9"):
            source.read()
        time.sleep(0.001)
    gaps = np.diff(attempts)
    assert 5 <= len(attempts) <= 12, attempts
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08 and max(gaps) < 0.16 + 0.05


def test_presence_of_each_source_kind(tmp_path):
    assert presence_check(CameraSettings(source="images", path=str(tmp_path)))()
    assert not presence_check(CameraSettings(source="video", path=str(tmp_path / "none.avi")))()
    assert not presence_check(CameraSettings(source="v4l2", device="/dev/video-nonexistent"))()
    assert not presence_check(CameraSettings(source="v4l2", device="97"))()  # /dev/video97


def test_grabber_shows_unavailable_while_lost_and_clears_on_recovery(folder):
    settings = CameraSettings(source="images", path=str(folder), fps=100.0)
    source = reopening_source(settings, presence_every_s=0.05, backoff=Backoff(0.02, 0.1, jitter=0.0))
    grabber = FrameGrabber(source, retry_s=0.02).start()
    try:
        deadline = time.monotonic() + 5
        while grabber.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert grabber.latest() is not None and grabber.error is None
        shutil.rmtree(folder)
        while grabber.error is None and time.monotonic() < deadline + 5:
            time.sleep(0.01)
        assert grabber.error is not None
        seq = grabber.latest().seq
        write_folder(person_frames(PERSON_A)[:2], folder)
        while (grabber.error is not None or grabber.latest().seq == seq) and time.monotonic() < deadline + 10:
            time.sleep(0.01)
        assert grabber.error is None and grabber.latest().seq > seq
    finally:
        grabber.close()

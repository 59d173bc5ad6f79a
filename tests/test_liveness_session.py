"""The frame-by-frame liveness session and the liveness-record command, end to end on the
real models. A photo cannot answer a prompt, so these sessions fail, and must."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from kiosk.liveness.session import LivenessModels, LivenessSession

REPO = Path(__file__).resolve().parents[1]
FPS = 25.0


@pytest.fixture(scope="module")
def models(settings) -> LivenessModels:
    return LivenessModels.from_settings(settings)


def kiosk_frame(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut portrait on a 640x480 canvas (a face ~90 px wide)."""
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[:, 64:576] = astronaut[:480]
    return canvas


def test_a_still_photo_gets_a_prompt_and_fails_it_with_evidence(settings, models, pipeline, astronaut):
    session = LivenessSession(settings.liveness, models.landmarker, pipeline, random.Random(5), prompts=["turn_left", "blink_twice"])
    frame = kiosk_frame(astronaut)
    phases = []
    t = 100.0
    status = session.status
    assert status.phase == "settle" and status.wants_identity
    while not status.done and t < 110.0:
        status = session.feed(frame, t)
        phases.append(status.phase)
        t += 1 / FPS
    assert phases[0] == "settle" and "prompt" in phases and phases[-1] == "failed"
    result = session.result
    assert result is not None and not result.passed and result.reason == "too_late"
    assert result.verification is None and result.passive is None
    record = result.to_audit()
    json.dumps(record)  # the audit log can store it as is
    (evidence,) = record["challenge"]["evidence"]
    assert evidence["prompt"] == "turn_left" and evidence["onset_s"] is None and evidence["outcome"] == "too_late"
    assert record["challenge"]["identity"]["checks"] >= 1 and record["challenge"]["identity"]["max_distance"] < 1e-3
    assert session.feed(frame, t).done  # further frames change nothing


def test_the_challenge_starts_with_the_first_face_and_fails_when_it_leaves(settings, models, pipeline, astronaut):
    session = LivenessSession(settings.liveness, models.landmarker, pipeline, random.Random(1))
    wall = np.full((480, 640, 3), 128, np.uint8)
    t = 0.0
    while t < 5.0:  # an empty picture: nobody has stepped up yet
        assert session.feed(wall, t).phase == "settle"
        t += 1 / FPS
    assert session.result is None
    session.feed(kiosk_frame(astronaut), t)
    while not session.status.done and t < 10.0:
        t += 1 / FPS
        session.feed(wall, t)
    assert session.result.reason == "face_lost" and t < 5.0 + 2 * settings.liveness.max_face_absence_s


def test_abort_ends_the_session_as_a_failure(settings, models, pipeline, astronaut):
    session = LivenessSession(settings.liveness, models.landmarker, pipeline, random.Random(2))
    session.feed(kiosk_frame(astronaut), 0.0)
    status = session.abort("cancelled", 0.5)
    assert status.done and session.result.reason == "cancelled" and not session.result.passed


def write_video(path: Path, frame: np.ndarray, seconds: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (frame.shape[1], frame.shape[0]))
    for _ in range(int(seconds * FPS)):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_liveness_record_writes_video_and_prompt_log(tmp_path, astronaut):
    from kiosk.commands import liveness_record

    video = tmp_path / "camera.avi"
    write_video(video, kiosk_frame(astronaut), 2.0)
    data = yaml.safe_load((REPO / "config.yml").read_text())
    data["models"]["dir"] = str(REPO / "models")
    data["camera"] = {**data.get("camera", {}), "source": "video", "path": str(video), "loop": True}
    config_path = tmp_path / "config.yml"
    config_path.write_text(yaml.safe_dump(data))
    out = tmp_path / "sessions"
    args = argparse.Namespace(config=str(config_path), out=out, consent="form-0001", sessions=1, max_seconds=8.0, pause=0.0, quiet=True)
    assert liveness_record.run(args) == 0
    (log,) = out.glob("*.json")
    record = json.loads(log.read_text())
    assert record["consent"] == "form-0001" and record["format"] == "facekiosk-liveness-session/1"
    assert 2 <= len(record["prompts"]) <= 3 and isinstance(record["seed"], int)
    assert [e["phase"] for e in record["events"]][:2] == ["settle", "prompt"]
    assert record["events"][1]["prompt"] == record["prompts"][0]
    assert record["result"]["passed"] is False and record["result"]["reason"] == "too_late"
    capture = cv2.VideoCapture(str(out / record["video"]))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == len(record["frame_times_s"]) > 10
    times = record["frame_times_s"]
    assert times == sorted(times)


def test_a_face_found_again_after_being_lost_is_identified_at_once(models, pipeline, astronaut):
    from kiosk.liveness.session import FrameMeasurer

    measurer = FrameMeasurer(models.landmarker, pipeline)
    frame = kiosk_frame(astronaut)
    assert measurer.measure(frame, 0.0, identity=True).face is not None
    assert measurer.measure(frame, 0.04, identity=False).face is None  # tracked: no embedding asked
    lost = measurer.measure(np.full_like(frame, 128), 0.08, identity=False)
    assert not lost.observation.face
    again = measurer.measure(frame, 0.12, identity=False)
    assert again.face is not None and again.observation.embedding is not None
    assert isinstance(again.observation.ref.image, np.ndarray)

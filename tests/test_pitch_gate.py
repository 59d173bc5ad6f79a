"""The pitch gate for a seated person: pictures of a face seen from 31 degrees above (a
wheelchair user, eyes at about 1.2 m, before a camera mounted for standing people at
about 1.6 m, half a metre away), made from the astronaut portrait by the face-mesh warp
of benchmarks/pitch_warp.py, through the real pipeline (MTCNN, five-point pose, quality
gates, embeddings), the sign-up capture and the reset's face check.

The gate (quality.max_pitch_deg 25) stays: benchmarks/pitch.py measured that the pictures
it keeps out are refused by the matcher two to three times as often (README, "A seated
person and the pitch gate"). What changed is what the person is told: which way to move
("Lift your chin and look at the camera"), not "Look straight at the camera".
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pitch_warp import face_mesh_points, pitch_image
from kiosk.flows.capture import EnrollmentCapture
from kiosk.flows.faces import FaceRules, guidance_for, observation_from
from kiosk.flows.verify import FaceVerifier
from kiosk.liveness.landmarks import FaceMesh
from kiosk.vision.quality import assess, estimate_pose

SEATED_DEG = 31.0  # atan((1.6 - 1.2) / 0.65): the camera's height above the eyes at arm's length


@pytest.fixture(scope="module")
def frames(settings, pipeline, astronaut):
    """The astronaut on a 640x480 camera frame: as taken (0) and seen from 31 degrees
    above and below."""
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[:, 64:576] = astronaut[:480]
    mesh = FaceMesh.from_manifest(settings.model_manifest(settings.liveness.landmark_model))
    face = pipeline.analyze(canvas).face
    points = face_mesh_points(canvas, mesh, face.box, np.asarray(face.landmarks)[:2])
    assert points is not None
    return {angle: canvas if angle == 0 else pitch_image(canvas, points, angle) for angle in (0.0, SEATED_DEG, -SEATED_DEG)}


@pytest.fixture(scope="module")
def rules(pipeline, settings):
    return FaceRules.from_pipeline(pipeline, settings)


def test_the_warp_turns_the_face_as_the_gate_reads_it(pipeline, frames):
    """The warped picture is what it claims: the gate reads the face as turned down by
    about the angle made (the astronaut reads +23 degrees as photographed)."""
    upright = estimate_pose(pipeline.analyze(frames[0.0]).face.landmarks).pitch_deg
    seated = estimate_pose(pipeline.analyze(frames[SEATED_DEG]).face.landmarks).pitch_deg
    assert seated - upright > 0.5 * SEATED_DEG, (upright, seated)
    assert seated > pipeline.quality.max_pitch_deg
    from_below = estimate_pose(pipeline.analyze(frames[-SEATED_DEG]).face.landmarks).pitch_deg
    assert upright - from_below > 0.5 * SEATED_DEG, (upright, from_below)


def test_a_face_seen_from_above_is_told_to_lift_the_chin(pipeline, frames):
    result = pipeline.analyze(frames[SEATED_DEG])
    codes = [f.code for f in result.findings]
    assert codes and codes[0] == "looks_down", codes
    observation = observation_from(result, 0, frames[SEATED_DEG].shape)
    assert not observation.good
    guidance = guidance_for(observation)
    assert guidance is not None and guidance.msgid == "Lift your chin and look at the camera"


def test_a_face_seen_from_below_is_told_to_lower_the_chin(pipeline, frames):
    """The five points of a face seen from below, its nose tip high between eyes and mouth."""
    face = pipeline.analyze(frames[0.0]).face
    landmarks = np.asarray(face.landmarks, dtype=np.float64).copy()
    eyes_y, mouth_y = landmarks[:2, 1].mean(), landmarks[3:, 1].mean()
    landmarks[2, 1] = eyes_y + 0.15 * (mouth_y - eyes_y)
    chip = pipeline.align_points(frames[0.0], face.landmarks)
    findings = assess(640, face.box, landmarks, chip, 0, pipeline.quality)
    assert findings and findings[0].code == "looks_up", findings


def test_sign_up_capture_from_above_takes_no_picture_and_says_which_way(pipeline, rules, frames):
    capture = EnrollmentCapture(3, 0.0, rules, started_at=0.0, timeout_s=30.0)
    seated = observation_from(pipeline.analyze(frames[SEATED_DEG]), 0, frames[SEATED_DEG].shape)
    for i in range(5):
        capture.feed(seated, float(i))
    assert capture.progress == (0, 3)
    assert capture.guidance.msgid == "Lift your chin and look at the camera"
    # The person lifts the chin towards the camera: the pictures are taken.
    upright = observation_from(pipeline.analyze(frames[0.0]), 1, frames[0.0].shape)
    for i in range(3):
        capture.feed(upright, 10.0 + i)
    assert capture.done


def test_the_reset_face_check_never_compares_a_face_from_above(pipeline, rules, frames):
    """Kept out, the seated pictures are not a failed attempt (nothing counted toward the
    lockout): the person is told which way to move until the time runs out."""
    enrolled = pipeline.analyze(frames[0.0])
    templates = {model: vector[None] for model, vector in enrolled.embeddings.items()}
    verifier = FaceVerifier(templates, rules, 3, started_at=0.0, timeout_s=15.0)
    seated = observation_from(pipeline.analyze(frames[SEATED_DEG]), 0, frames[SEATED_DEG].shape)
    for i in range(10):
        assert verifier.feed(seated, float(i)) is None
    assert verifier.compared == 0 and verifier.guidance is not None
    assert verifier.guidance.msgid == "Lift your chin and look at the camera"
    outcome = verifier.expire(15.0)
    assert outcome is not None and not outcome.accepted and not outcome.counts


def test_a_passed_liveness_challenge_whose_picture_is_from_above_says_lift_the_chin(pipeline, rules, frames):
    """The challenge decides on a picture taken inside it, which must pass the same
    gates: seen from above, the person is told which way to move, and it does not count."""
    from types import SimpleNamespace

    from kiosk.flows.faces import FaceObservation
    from kiosk.flows.liveness import LivenessVerifier
    from kiosk.flows.verify import MATCH, NO_CLEAR_PICTURE
    from kiosk.liveness.challenge import Status

    enrolled = pipeline.analyze(frames[0.0])
    templates = {model: vector[None] for model, vector in enrolled.embeddings.items()}

    def decide(picture: np.ndarray):
        passed = SimpleNamespace(passed=True, reason="", verification=SimpleNamespace(face=pipeline.analyze(picture)),
                                 to_audit=lambda: {"passed": True})
        check = SimpleNamespace(result=passed)
        verifier = LivenessVerifier(check, templates, rules, started_at=0.0, timeout_s=15.0)  # type: ignore[arg-type]
        done = FaceObservation(1, (640, 480), box=(200.0, 100.0, 400.0, 350.0), faces=1, liveness=Status("passed", None, 2, 2, 0.0))
        return verifier, verifier.feed(done, 1.0)

    verifier, outcome = decide(frames[SEATED_DEG])
    assert outcome is not None and outcome.reason == NO_CLEAR_PICTURE and not outcome.counts
    assert "Lift your chin" in verifier.failure_text().msgid
    verifier, outcome = decide(frames[0.0])  # the chin lifted towards the camera
    assert outcome is not None and outcome.reason == MATCH and outcome.accepted


def test_the_sign_up_screen_tells_a_face_from_above_to_lift_the_chin(tmp_path, pipeline, frames):
    """Camera to screen: the turned pictures as the camera (image folder), the real
    grabber and face worker, the capture and the screen's guidance line."""
    from kiosk.camera.scripted import write_folder
    from kiosk.flows import Step
    from ui_support import SCREENS_DIR, Driver, make_app

    camera = write_folder([frames[SEATED_DEG]], tmp_path / "camera")
    ui = Driver(make_app(tmp_path, pipeline, frames_dir=camera), SCREENS_DIR / "pitch-seated")
    try:
        ui.press("sign up")
        ui.type("ann@example.org")
        ui.submit()
        for _ in range(2):
            ui.type("Correct horse 9!")
            ui.submit()
        ui.press("agree")
        assert ui.flow.step == Step.SIGNUP_FACE
        ui.wait_for(lambda: getattr(ui.flow.face_guidance(), "msgid", None) == "Lift your chin and look at the camera",
                    what="the lift-your-chin guidance")
        ui.step()
        ui.shot("seated")
        assert "Lift your chin and look at the camera" in ui.texts()
        assert ui.flow.capture_progress()[0] == 0  # no picture taken from above
        assert not ui.problems, ui.problems[:3]
    finally:
        ui.app.close()

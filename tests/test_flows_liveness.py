"""The liveness challenge inside the journeys: "forgot password" and, when configured,
sign-up. A real store, the real flow, the real challenge state machine and, where a
camera picture can answer (it cannot answer prompts), the real LiteRT face mesh.

A live person answering prompts cannot be filmed here, so the accepting paths use
kiosk.liveness.simulate.Person (smooth, human-timed answers) as the camera's measurements
around the real challenge, with the embedding of a real face; the refusing paths also
run the real models on still pictures.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from kiosk.flows import Step
from kiosk.flows.faces import FaceObservation
from kiosk.flows.liveness import FAILURE_TEXT
from kiosk.liveness.challenge import REASONS, Challenge, Status, draw_prompts
from kiosk.liveness.session import LivenessModels, LivenessResult, LivenessSession
from kiosk.liveness.simulate import Person
from kiosk.store import audit as audit_mod
from test_flows import MAX_FAILURES, PASSWORD, Kiosk, faces_a, faces_b, rules  # noqa: F401 - fixtures
from ui_support import PERSON_A, person_frames

FPS = 25.0
EMAIL = "ada@example.org"


class SimulatedCheck:
    """A liveness check whose measurements come from a simulated person, around the real
    challenge: what LivenessSession does with a camera, minus the camera."""

    def __init__(self, settings, person: Person, embedding: np.ndarray, rules, seed: int,
                 findings: tuple = (), arrives_at: float = 0.0) -> None:
        """``findings``: the quality findings of the verification frame; ``arrives_at``:
        the person is out of the picture before this time."""
        rng = random.Random(seed)
        self.person = person
        self.embedding = embedding
        self.findings = list(findings)
        self.arrives_at = arrives_at
        self.present = False
        self.challenge = Challenge(
            draw_prompts(rng, settings), settings, distance=lambda a, b: float(np.linalg.norm(a - b)),
            max_distance=rules.same_face_threshold, rng=rng,
        )
        self._result: LivenessResult | None = None

    @property
    def result(self) -> LivenessResult | None:
        return self._result

    def feed(self, image, t: float) -> Status:
        self.present = t >= self.arrives_at
        if not self.present:
            return self.challenge.status()  # nobody yet: the challenge's clock has not started
        observation = self.person.observe(t, self.challenge.status())
        frame = SimpleNamespace(face=SimpleNamespace(embedding=self.embedding, embeddings={}, findings=self.findings))
        status = self.challenge.update(replace(observation, ref=frame))
        if status.done:
            self._finish()
        return status

    def abort(self, reason: str, t: float) -> Status:
        status = self.challenge.abort(reason, t)
        self._finish()
        return status

    def tracked_box(self):
        return np.array([200.0, 120.0, 330.0, 280.0]) if self.present else None

    def _finish(self) -> None:
        if self._result is None:
            result = self.challenge.result
            self._result = LivenessResult(result.passed, result.reason, result, None, SimpleNamespace(face=result.verification_ref.face) if result.passed else None)


BLANK = np.zeros((480, 640, 3), np.uint8)  # what a simulated check is shown


def run_camera(kiosk: Kiosk, frames=(BLANK,), seconds: float = 15.0, on_frame=None) -> None:
    """Frames through the flow's own frame analysis at FPS, as the face worker would run
    them, until the challenge is over."""
    flow = kiosk.flow
    for seq in range(int(seconds * FPS)):
        kiosk.clock.advance(1.0 / FPS)
        analyze = flow.frame_analyzer()
        if analyze is None:
            return
        observation = analyze(frames[seq % len(frames)], kiosk.clock(), seq)
        assert isinstance(observation, FaceObservation) and observation.liveness is not None
        flow.observe(observation)
        flow.tick()
        if on_frame is not None:
            on_frame()


def face_audit(kiosk: Kiosk):
    return [e for e in kiosk.store.audit.entries() if e.action == audit_mod.SIGN_IN_FACE]


def liveness_record(entry) -> dict:
    assert "liveness=" in entry.reason, entry.reason
    return json.loads(entry.reason.split("liveness=", 1)[1])


@pytest.fixture(scope="module")
def models(settings) -> LivenessModels:
    return LivenessModels.from_settings(settings)


@pytest.fixture(scope="module")
def embedding_a(faces_a):
    return faces_a[0].embedding


def enrolled_kiosk(tmp_path, rules, faces_a, liveness, **config) -> Kiosk:
    kiosk = Kiosk(tmp_path, rules, liveness=liveness, liveness_for_reset=True, **config)
    kiosk.store.enroll(EMAIL, PASSWORD, [face.embedding for face in faces_a[:5]], rules.model_id)
    return kiosk


def test_a_person_who_answers_the_prompts_resets_the_password(tmp_path, settings, rules, faces_a, embedding_a):
    checks = []

    def start():
        checks.append(SimulatedCheck(settings.liveness, Person(embedding_a), embedding_a, rules, seed=len(checks)))
        return checks[-1]

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    kiosk.start_reset(EMAIL)
    seen_prompts = set()

    def on_frame():
        if kiosk.flow.liveness_prompt():
            seen_prompts.add(kiosk.flow.liveness_prompt())
            assert kiosk.flow.face_guidance().msgid.startswith(("Turn your head", "Look up", "Blink twice"))

    run_camera(kiosk, on_frame=on_frame)
    assert kiosk.flow.step == Step.RESET_PASSWORD, (kiosk.flow.step, checks[0].result)
    assert seen_prompts == set(checks[0].challenge.prompts)
    (entry,) = face_audit(kiosk)
    assert entry.result == audit_mod.OK and entry.reason.startswith("match; ")
    record = liveness_record(entry)
    assert record["passed"] and [e["prompt"] for e in record["challenge"]["evidence"]] == list(checks[0].challenge.prompts)
    assert all(0.15 <= e["onset_s"] <= 2.0 for e in record["challenge"]["evidence"])


def test_a_wrong_answer_is_a_failed_attempt_with_its_own_advice(tmp_path, settings, rules, faces_a, embedding_a):
    def start():
        # Does every prompt the other way round (a turn to the other side, looks down).
        return SimulatedCheck(settings.liveness, Person(embedding_a, turn_deg=-30.0, look_up_deg=-20.0), embedding_a, rules, seed=3)

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    kiosk.start_reset(EMAIL)
    run_camera(kiosk)
    check_refusal(kiosk, attempts_left=MAX_FAILURES - 1)
    assert kiosk.flow.session.message.msgid in ("Please move the way the arrow shows.", FAILURE_TEXT["too_late"].msgid)
    (entry,) = face_audit(kiosk)
    assert entry.result == audit_mod.FAIL and entry.score is None
    assert not liveness_record(entry)["passed"]


def check_refusal(kiosk: Kiosk, attempts_left: int) -> None:
    assert kiosk.flow.step == Step.RESET_REFUSED, kiosk.flow.step
    assert kiosk.flow.session.attempts_left == attempts_left


def test_an_unknown_email_gets_the_same_challenge_and_the_same_refusal_as_a_wrong_face(tmp_path, settings, rules, faces_a, faces_b, embedding_a):
    def start():
        return SimulatedCheck(settings.liveness, Person(faces_b[0].embedding), faces_b[0].embedding, rules, seed=4)

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    answers = []
    for email in (EMAIL, "nobody@example.org"):  # a wrong face for Ada, then no account at all
        kiosk.start_reset(email)
        run_camera(kiosk)
        answers.append((kiosk.flow.step, kiosk.flow.session.message.msgid))
        kiosk.flow.wipe()
    assert answers[0] == answers[1] == (Step.RESET_REFUSED, "We could not verify you.")
    entries = face_audit(kiosk)
    assert [e.reason.split(";")[0] for e in entries] == ["no match", "no match"]
    assert entries[0].score is not None and entries[0].score > rules.verify_threshold


def test_a_photo_held_to_the_camera_fails_the_real_challenge_and_counts(tmp_path, settings, rules, faces_a, models, pipeline):
    """The real face mesh and detector on the scripted astronaut frames (a photo moved
    about by a hand, as the kiosk's demo camera shows it): it never passes."""
    frames = person_frames(PERSON_A)

    def start():
        return LivenessSession(settings.liveness, models.landmarker, pipeline, random.Random(11))

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    for attempt in range(MAX_FAILURES):
        kiosk.start_reset(EMAIL)
        run_camera(kiosk, frames)
        if attempt < MAX_FAILURES - 1:
            check_refusal(kiosk, attempts_left=MAX_FAILURES - 1 - attempt)
            assert kiosk.flow.session.message.msgid != "We could not verify you."
            kiosk.flow.wipe()
    assert kiosk.flow.step == Step.LOCKED
    entries = face_audit(kiosk)
    assert len(entries) == MAX_FAILURES and all(e.result == audit_mod.FAIL for e in entries)
    record = liveness_record(entries[0])
    assert not record["passed"] and record["reason"] in REASONS and record["challenge"]["identity"]["checks"] >= 1, record


def test_backing_out_of_a_challenge_under_way_counts_as_an_attempt(tmp_path, settings, rules, faces_a, embedding_a):
    def start():
        return SimulatedCheck(settings.liveness, Person(embedding_a, reaction_s=5.0), embedding_a, rules, seed=5)

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    kiosk.start_reset(EMAIL)
    run_camera(kiosk, seconds=0.8)
    assert kiosk.flow.step == Step.RESET_FACE
    kiosk.flow.act("back")
    (entry,) = face_audit(kiosk)
    assert entry.result == audit_mod.FAIL and entry.reason == "left before the decision"


def test_enrollment_with_liveness_takes_pictures_only_of_the_face_that_passed(tmp_path, settings, rules, faces_a, faces_b, embedding_a):
    def start():
        return SimulatedCheck(settings.liveness, Person(embedding_a), embedding_a, rules, seed=6)

    kiosk = Kiosk(tmp_path, rules, liveness=start, liveness_for_enrollment=True)
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("grace@example.org")
    kiosk.enter(PASSWORD)
    kiosk.enter(PASSWORD)
    flow.act("agree")
    assert flow.step == Step.SIGNUP_FACE and flow.session.capture is None
    run_camera(kiosk)
    assert flow.session.capture is not None and flow.session.verifier is None
    kiosk.show(faces_b, steps=6)  # someone else steps in after the challenge
    assert flow.session.capture.progress[0] == 0 and flow.face_guidance().msgid == "One person at a time, please"
    kiosk.show(faces_a)
    assert flow.step == Step.SIGNUP_DONE
    assert kiosk.store.face_templates("grace@example.org", rules.model_id)[1].shape[0] == 5


def test_a_flow_that_must_check_liveness_cannot_be_built_without_it(tmp_path, rules):
    with pytest.raises(ValueError, match="liveness"):
        Kiosk(tmp_path, rules, liveness_for_reset=True)


def test_an_empty_picture_waits_for_the_person_and_is_never_counted(tmp_path, settings, rules, faces_a, models, pipeline):
    def start():
        return LivenessSession(settings.liveness, models.landmarker, pipeline, random.Random(12))

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start, verify_timeout_s=6.0)
    kiosk.start_reset(EMAIL)
    run_camera(kiosk, seconds=3.0)
    assert kiosk.flow.step == Step.RESET_FACE and kiosk.flow.face_guidance().msgid == "Look at the camera"
    run_camera(kiosk, seconds=4.0)
    assert kiosk.flow.step == Step.RESET_REFUSED and kiosk.flow.session.message.msgid == "We did not see a face."
    assert kiosk.flow.session.attempts_left is None and face_audit(kiosk) == []


def test_a_passed_challenge_still_needs_a_clear_picture_to_decide_on(tmp_path, settings, rules, faces_a, embedding_a):
    def start():
        return SimulatedCheck(settings.liveness, Person(embedding_a), embedding_a, rules, seed=7, findings=("blurry",))

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    kiosk.start_reset(EMAIL)
    run_camera(kiosk)
    assert kiosk.flow.step == Step.RESET_REFUSED  # the same quality gates as without the challenge
    assert kiosk.flow.session.message.msgid == "We could not get a clear picture of your face."
    assert kiosk.flow.session.attempts_left is None and face_audit(kiosk) == []


def test_a_late_arrival_gets_the_whole_time_for_the_challenge(tmp_path, settings, rules, faces_a, embedding_a):
    def start():
        return SimulatedCheck(settings.liveness, Person(embedding_a), embedding_a, rules, seed=8, arrives_at=1000.0 + 5.5)

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start, verify_timeout_s=6.0)
    kiosk.start_reset(EMAIL)  # the flow's clock starts at 1000 s
    run_camera(kiosk)
    assert kiosk.flow.step == Step.RESET_PASSWORD, kiosk.flow.session.message


def test_a_finished_status_of_another_check_is_not_taken_for_this_one(tmp_path, settings, rules, faces_a, embedding_a):
    def start():
        return SimulatedCheck(settings.liveness, Person(embedding_a), embedding_a, rules, seed=9)

    kiosk = enrolled_kiosk(tmp_path, rules, faces_a, start)
    kiosk.start_reset(EMAIL)
    stale = FaceObservation(1, (640, 480), box=(200.0, 120.0, 330.0, 280.0), faces=1,
                            liveness=Status(phase="failed", prompt=None, index=0, total=2, prompt_elapsed_s=0.0, reason="too_late"))
    kiosk.flow.observe(stale)
    assert kiosk.flow.step == Step.RESET_FACE and face_audit(kiosk) == []
    run_camera(kiosk)
    assert kiosk.flow.step == Step.RESET_PASSWORD

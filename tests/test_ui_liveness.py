"""The liveness challenge through the real UI, headless: the real face worker thread runs
the real face mesh and detector on every camera frame; the screen shows each prompt with
its arrow or eye over the picture. The camera is a still photo, so the prompt goes
unanswered and the reset is refused with advice, as it must be.

Screenshots land in artifacts/screens/<test name>/ (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kiosk.camera.scripted import write_folder
from kiosk.flows import Step
from kiosk.flows.liveness import FAILURE_TEXT, INTRO, PROMPT_TEXT, RETRY
from ui_support import PERSON_A, SCREENS_DIR, Driver, enroll_directly, make_app, store_settings

PASSWORD = "Correct horse 9!"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def still_photo(tmp_path, astronaut):
    """The astronaut portrait held perfectly still on a 640x480 frame."""
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[:, 64:576] = astronaut[:480]
    return write_folder([canvas], tmp_path / "camera")


# Two challenges (the missed prompt gets one retry): ~5.5 s each, so both sizes are
# slow-marked; the fast set keeps the sign-up challenge below (~2.7 s: intro, prompt,
# its sound and words, refusal).
@pytest.mark.slow
@pytest.mark.parametrize("size", [(800, 480), (1280, 720)])
def test_a_photo_is_shown_a_prompt_and_refused_with_advice(tmp_path, pipeline, still_photo, size, request):
    settings = store_settings(tmp_path, liveness={"required_for_reset": True}, models={"dir": str(REPO / "models")})
    enroll_directly(settings, pipeline, "ann@example.org", PASSWORD, PERSON_A)
    ui = Driver(make_app(tmp_path, pipeline, size=size, frames_dir=still_photo, store=settings), SCREENS_DIR / request.node.name)
    try:
        flow = ui.flow
        ui.press("forgot password")
        ui.type("ann@example.org")
        ui.submit()
        ui.wait_for(lambda: flow.step == Step.RESET_FACE, what="the face check")
        seen: set[str] = set()
        ui.wait_for(lambda: seen.update(ui.texts()) or flow.liveness_prompt() is not None or flow.step != Step.RESET_FACE, what="a prompt")
        assert INTRO.msgid in seen, "the introduction comes before the first prompt"
        prompt = flow.liveness_prompt()
        assert prompt in PROMPT_TEXT, (flow.step, flow.session.message)
        ui.shot(prompt)
        texts = ui.texts()
        assert PROMPT_TEXT[prompt].msgid in texts
        assert any(text.startswith("Step 1 of ") for text in texts), texts
        assert "prompt" in ui.app.sounds.played  # a sound with the prompt
        assert flow.liveness_answer_left() is not None  # the bar of the time to answer
        guidance = [r for r in ui.app.painter.records if r.owner.endswith("guidance")]
        assert guidance and guidance[0].role == "prompt"  # large, in the prompt's own role
        # The photo misses the prompt: one new challenge before it counts.
        ui.wait_for(lambda: flow.session.verifier is not None and getattr(flow.session.verifier, "retried", False) or flow.step != Step.RESET_FACE, timeout=20.0, what="the retry")
        assert flow.step == Step.RESET_FACE and RETRY.msgid in (ui.step() or ui.texts())
        ui.shot("retry")
        ui.wait_step(Step.RESET_REFUSED, timeout=30.0)
        ui.shot()
        assert "retry_of" in flow.session.outcome.liveness  # both challenges in the audit
        assert flow.session.message.msgid == FAILURE_TEXT["too_late"].msgid
        assert flow.session.attempts_left is not None  # a failed challenge counts
        assert not ui.problems, ui.problems[:5]
    finally:
        ui.app.close()


def test_sign_up_with_liveness_asks_for_the_challenge_before_the_pictures(tmp_path, pipeline, still_photo, request):
    settings = store_settings(tmp_path, liveness={"required_for_reset": False, "required_for_enrollment": True},
                              models={"dir": str(REPO / "models")})
    ui = Driver(make_app(tmp_path, pipeline, frames_dir=still_photo, store=settings), SCREENS_DIR / request.node.name)
    try:
        flow = ui.flow
        ui.press("sign up")
        ui.type("bea@example.org")
        ui.submit()
        for _ in range(2):
            ui.type(PASSWORD)
            ui.submit()
        ui.press("agree")
        assert flow.step == Step.SIGNUP_FACE and flow.capture_progress()[0] == 0
        ui.wait_for(lambda: flow.liveness_prompt() is not None or flow.step != Step.SIGNUP_FACE, what="a prompt")
        ui.shot(flow.liveness_prompt() or "no-prompt")
        assert flow.liveness_prompt() in PROMPT_TEXT
        assert PROMPT_TEXT[flow.liveness_prompt()].msgid in ui.texts()
        assert not any(text.startswith("Do what the screen asks") for text in ui.texts())  # the prompt alone
        # ui.speech "prompts" (the default): the introduction, then the prompt's own words after its tone
        said = [line.text for line in ui.app.speaker.queued]
        assert said[:2] == [INTRO.msgid, PROMPT_TEXT[flow.liveness_prompt()].msgid + "."], said
        assert ui.app.speaker.queued[1].after_s > 0
        ui.wait_step(Step.PROBLEM, timeout=20.0)
        ui.shot()
        assert flow.session.problem.title.msgid == "We could not check that you are present"
        assert flow.session.problem.body.msgid == FAILURE_TEXT["too_late"].msgid
        assert not ui.problems, ui.problems[:5]
    finally:
        ui.app.close()

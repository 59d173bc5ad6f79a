"""Spoken prompts: real eSpeak NG writes each line to a WAV (``-w``), pygame's mixer plays
it on SDL's dummy audio driver. The lines asked for are the screen's own text, in the
visit's language; typed text and email addresses are never spoken."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from kiosk.flows import Step
from kiosk.ui.speech import Speaker
from ui_support import SCREENS_DIR, Driver, FakeClock, make_app

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make apt-deps)")


def plausible(seconds: float, text: str, wpm: int) -> bool:
    """A WAV about as long as the words take at ``wpm`` (eSpeak adds short pauses)."""
    expected = len(text.split()) * 60.0 / wpm
    return 0.5 * expected <= seconds <= 2.0 * expected + 0.6


@pytest.mark.parametrize("language,text", [("en", "Turn your head to your left"), ("de", "Drehen Sie den Kopf nach links")])
def test_espeak_writes_a_wav_as_long_as_the_words(tmp_path, language, text):
    speaker = Speaker("prompts", rate_wpm=150, keep_dir=tmp_path)
    try:
        speaker.say(text, language, "prompt")
        assert speaker.wait_idle(10.0)
        (spoken,) = speaker.spoken
        assert spoken.line.text == text and spoken.line.language == language
        assert spoken.wav.stat().st_size > 10_000
        assert plausible(spoken.seconds, text, 150), spoken.seconds
        faster = Speaker("prompts", rate_wpm=300, keep_dir=tmp_path / "fast")
        (tmp_path / "fast").mkdir()
        faster.say(text, language, "prompt")
        assert faster.wait_idle(10.0)
        assert faster.spoken[0].seconds < 0.8 * spoken.seconds  # the rate setting reaches eSpeak
    finally:
        speaker.close()


def test_saying_never_waits_for_espeak(tmp_path):
    """say() returns at once on the UI thread; the WAV is made on the speech thread."""
    speaker = Speaker("screens", keep_dir=tmp_path)
    try:
        start = time.perf_counter()
        for i in range(20):
            speaker.say(f"Line number {i}", "en")
        took = time.perf_counter() - start
        assert took < 0.05, took
        assert speaker.wait_idle(10.0)
        assert speaker.spoken[-1].line.text == "Line number 19"  # the newest line is said ...
        assert len(speaker.spoken) < 20  # ... and the lines the screen has left behind are dropped
        assert all(thread.name != "speech" or thread.daemon for thread in threading.enumerate())
    finally:
        speaker.close()


def test_off_and_missing_espeak_are_silent(tmp_path, caplog):
    off = Speaker("off", keep_dir=tmp_path)
    off.say("Hello", "en", "prompt")
    assert off.queued == [] and off.spoken == []
    with caplog.at_level("WARNING", logger="kiosk.ui"):
        missing = Speaker("prompts", espeak="no-such-espeak-ng", keep_dir=tmp_path)
        missing.say("Turn your head to your left", "en", "prompt")
        missing.update()
    assert [line.text for line in missing.queued] == ["Turn your head to your left"]  # asked for ...
    assert missing.spoken == [] and missing.played == []  # ... never made or played
    assert sum("espeak-ng is not installed" in r.message for r in caplog.records) == 1


def test_screens_mode_says_each_screen_title_in_the_visit_language_and_never_the_email(tmp_path, pipeline):
    app = make_app(tmp_path, pipeline, speech="screens")
    ui = Driver(app, SCREENS_DIR / "speech-screens")
    try:
        ui.press("sign up")
        assert ui.flow.step is Step.SIGNUP_EMAIL
        assert app.speaker.queued[-1].text == "Sign up: your email address."
        assert "Sign up: your email address" in ui.texts()  # what is said is what is shown
        ui.type("ann@example.org")
        ui.submit()
        assert app.speaker.queued[-1].text == "Sign up: choose a password."
        assert not any("ann@" in line.text for line in app.speaker.queued)
        assert app.speaker.wait_idle(10.0)
        last = app.speaker.spoken[-1]
        assert last.line.text == "Sign up: choose a password." and last.wav.stat().st_size > 10_000
        assert plausible(last.seconds, last.line.text, 150), last.seconds
        app.speaker.update(now=time.monotonic() + 1.0)
        assert app.speaker.played[-1] == last.line  # handed to the mixer (the dummy audio driver)
        ui.press("start over")
        ui.press("language")  # Deutsch for this visit
        ui.press("sign up")
        title = app.speaker.queued[-1]
        assert title.language == "de" and title.text.rstrip(".") in ui.texts(), (title, ui.texts())
    finally:
        app.close()


def test_prompts_mode_says_the_timeout_warning_but_no_titles(tmp_path, pipeline):
    clock = FakeClock(500.0)
    app = make_app(tmp_path, pipeline, clock=clock, idle_timeout_s=60.0, idle_warning_s=20.0)
    assert app.ui.speech == "prompts"  # the default
    ui = Driver(app, SCREENS_DIR / "speech-prompts")
    try:
        ui.press("sign up")
        ui.type("ann@example.org")
        assert app.speaker.queued == []  # titles are not said by default
        clock.advance(41.0)
        ui.step()
        assert "Need more time?" in ui.texts()
        assert [line.text for line in app.speaker.queued] == ["Need more time?"]
        assert app.speaker.queued[0].after_s > 0  # after the warning's tone
    finally:
        app.close()


def test_typed_text_and_addresses_are_never_spoken():
    from kiosk.i18n import N_
    from kiosk.ui.speech import speakable

    assert speakable(N_("Welcome"))
    assert not speakable("ann@example.org")  # a plain string is what someone typed
    assert not speakable(N_("You are signed in as {email}.", email="ann@example.org"))
    assert not speakable(None)


def test_screens_mode_says_face_guidance_once_it_has_stayed(tmp_path, pipeline):
    """Face guidance changes with every frame: it is said once it has stayed 1.2 s, not
    again while it stays the same, and a new line only after the gap."""
    import dataclasses

    from kiosk.camera.scripted import PERSON_A
    from kiosk.flows.journeys import signup
    from ui_support import observe_person

    face = observe_person(pipeline, PERSON_A)[0]
    clock = FakeClock(100.0)
    app = make_app(tmp_path, pipeline, clock=clock, speech="screens")
    ui = Driver(app, SCREENS_DIR / "speech-guidance")
    try:
        app.flow.go(Step.SIGNUP_FACE)
        signup.start_capture(app.flow)
        ui.step()
        app.observe(dataclasses.replace(face, findings=("looks_down",)))
        ui.step()
        before = len(app.speaker.queued)
        clock.advance(0.6)
        ui.step()
        assert len(app.speaker.queued) == before  # not yet: it may change at the next frame
        clock.advance(0.8)
        ui.step()
        assert app.speaker.queued[-1].text == "Lift your chin and look at the camera."
        assert "Lift your chin and look at the camera" in ui.texts()
        clock.advance(2.0)
        ui.step()
        assert len(app.speaker.queued) == before + 1  # said once while it stays
        app.observe(dataclasses.replace(face, findings=("too_small",)))
        ui.step()
        clock.advance(1.5)
        ui.step()
        assert len(app.speaker.queued) == before + 1  # stayed 1.5 s, but 3.5 s after the last line
        clock.advance(1.0)
        ui.step()
        assert app.speaker.queued[-1].text == "Move closer."
    finally:
        app.close()


def test_doctor_says_whether_the_kiosk_can_speak(settings):
    from kiosk.commands.doctor import check_speech

    ok = check_speech(settings)
    assert ok.ok is True and "en " in ok.detail and "de " in ok.detail, ok.line()
    missing = check_speech(settings, espeak="no-such-espeak-ng")
    assert missing.ok is False and "make apt-deps" in missing.fix
    off = settings.model_copy(update={"ui": settings.ui.model_copy(update={"speech": "off"})})
    assert check_speech(off).ok is None


def test_speech_plays_with_the_tones_turned_off(tmp_path, pipeline):
    """ui.sound false leaves the mixer closed; speech opens it for itself."""
    import pygame

    pygame.mixer.quit()
    app = make_app(tmp_path, pipeline, sound=False, speech="screens")
    try:
        assert not app.sounds.audible
        app.speaker.wait_idle(10.0)
        assert pygame.mixer.get_init() is not None  # opened by the welcome screen's line
        app.speaker.update(now=time.monotonic() + 1.0)
        assert app.speaker.played and app.speaker.played[-1].text == "Welcome."
    finally:
        app.close()


def test_what_sounds_and_speech_remember_stays_bounded():
    from kiosk.ui.sound import remember

    history: list[int] = []
    for i in range(1000):
        remember(history, i, keep=10)
    assert len(history) <= 20  # a kiosk running for months does not grow
    assert history[-10:] == list(range(990, 1000))  # the newest are kept

"""Time to finish: a "Need more time?" dialog (with a sound) before the idle timeout wipes
what a person typed, and a countdown on result screens."""

from __future__ import annotations

from kiosk.flows import Step
from ui_support import SCREENS_DIR, Driver, FakeClock, make_app


def start(tmp_path, pipeline, clock: FakeClock, **ui) -> Driver:
    app = make_app(tmp_path, pipeline, clock=clock, idle_timeout_s=60.0, idle_warning_s=20.0, **ui)
    driver = Driver(app, SCREENS_DIR / f"timeout-{tmp_path.name}")
    driver.press("sign up")
    driver.type("ann@example.org")
    return driver


def test_the_warning_comes_before_the_wipe_and_more_time_keeps_the_input(tmp_path, pipeline):
    clock = FakeClock(500.0)
    ui = start(tmp_path, pipeline, clock)
    try:
        clock.advance(39.0)
        ui.step()
        assert "Need more time?" not in ui.texts() and ui.app.sounds.played == []
        clock.advance(1.5)
        ui.step()
        assert "Need more time?" in ui.texts()
        assert any("cleared in 20 seconds" in text for text in ui.texts()), ui.texts()
        assert ui.app.sounds.played == ["warning"]
        ui.shot("warning")
        clock.advance(10.0)
        ui.step()
        assert any("cleared in 10 seconds" in text for text in ui.texts())
        # a key under the dialog is not typed: the dialog takes the touch
        ui.tap(ui.key("x").rect.center)
        assert ui.flow.text == "ann@example.org"
        assert "Need more time?" not in ui.texts()  # ... as "more time"
        clock.advance(45.0)
        ui.step()
        ui.press("more time")
        assert ui.flow.step is Step.SIGNUP_EMAIL and ui.flow.text == "ann@example.org"
        assert ui.app.sounds.played == ["warning", "warning"]
        clock.advance(59.0)
        ui.step()
        assert ui.flow.step is Step.SIGNUP_EMAIL
        clock.advance(1.5)
        ui.step()
        assert ui.flow.step is Step.ATTRACT and ui.flow.session.fields["email"] == ""
        assert not ui.problems, ui.problems[:3]
    finally:
        ui.app.close()


def test_start_over_in_the_dialog_wipes_at_once(tmp_path, pipeline):
    clock = FakeClock(500.0)
    ui = start(tmp_path, pipeline, clock)
    try:
        clock.advance(45.0)
        ui.step()
        ui.press("timeout start over")
        assert ui.flow.step is Step.ATTRACT and ui.flow.session.fields["email"] == ""
        ui.step()
        assert "Need more time?" not in ui.texts()
    finally:
        ui.app.close()


def test_no_dialog_when_turned_off(tmp_path, pipeline):
    clock = FakeClock(500.0)
    ui = start(tmp_path, pipeline, clock, sound=False)
    ui.flow.config = __import__("dataclasses").replace(ui.flow.config, idle_warning_s=0.0)
    try:
        clock.advance(59.0)
        ui.step()
        assert "Need more time?" not in ui.texts()
    finally:
        ui.app.close()


def test_result_screens_show_their_countdown(tmp_path, pipeline):
    clock = FakeClock(500.0)
    app = make_app(tmp_path, pipeline, clock=clock, result_timeout_s=10.0)
    ui = Driver(app)
    try:
        ui.flow.go(Step.RESET_DONE)
        ui.step()
        assert any("10 seconds" in text for text in ui.texts()), ui.texts()
        clock.advance(6.5)
        ui.step()
        assert any("4 seconds" in text for text in ui.texts()), ui.texts()
        assert "Need more time?" not in ui.texts()
    finally:
        app.close()


def test_the_setting_is_validated():
    import pytest
    from pydantic import ValidationError

    from kiosk.config.ui import UiSettings

    with pytest.raises(ValidationError, match="idle_warning_s"):
        UiSettings(idle_timeout_s=30.0, idle_warning_s=30.0)
    assert UiSettings(idle_timeout_s=30.0, idle_warning_s=0.0).idle_warning_s == 0.0

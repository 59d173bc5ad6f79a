"""Choices on screen: language, larger text, high contrast and help on the start screen,
for one visit; a hardware keyboard types into fields; the German keyboard is QWERTZ."""

from __future__ import annotations

import pygame

from kiosk.flows import Step
from kiosk.ui import theme
from ui_support import SCREENS_DIR, Driver, make_app


def driver(tmp_path, pipeline, name: str, **ui) -> Driver:
    return Driver(make_app(tmp_path, pipeline, **ui), SCREENS_DIR / name)


def test_language_switch_lasts_one_visit_and_the_keyboard_follows(tmp_path, pipeline):
    ui = driver(tmp_path, pipeline, "choices-language")
    try:
        ui.step()
        assert "Welcome" in ui.texts() and "Deutsch" in ui.texts()
        ui.press("language")
        ui.shot("de")
        assert "Willkommen" in ui.texts() and "English" in ui.texts()
        ui.press("sign up")
        board = ui.keyboard
        assert board.language == "de"
        first_row = [key.code for key in board.keys if key.rect.top == board.keys[10].rect.top]
        assert first_row[:6] == list("qwertz") and "ü" in first_row
        codes = {key.code for key in board.keys}
        assert {"ö", "ä", "ß", ".de", ".com"} <= codes
        ui.shot("qwertz")
        ui.type("jörg@")
        ui.tap(board.key(".de").rect.center)
        assert ui.flow.text == "jörg@.de"
        assert all(rect.height >= 60 and rect.width >= 60 for rect in (key.rect for key in board.keys)), "every key at least 60 px"
        ui.press("start over")
        assert "Welcome" in ui.texts() or (ui.step() or "Welcome" in ui.texts())
        ui.press("sign up")
        assert ui.keyboard.language == "en" and "z" not in [k.code for k in ui.keyboard.keys[10:16]]
    finally:
        ui.app.close()


def test_larger_text_and_high_contrast_for_one_visit(tmp_path, pipeline):
    ui = driver(tmp_path, pipeline, "choices-looks")
    try:
        ui.step()
        normal = {r.text: r.cap for r in ui.app.painter.records}
        ui.press("larger text")
        ui.press("high contrast")
        ui.shot("large-high")
        larger = {r.text: r.cap for r in ui.app.painter.records}
        for text in ("Welcome", "Sign up", "Forgot password"):
            assert larger[text] >= 1.2 * normal[text], text
        assert theme.BACKGROUND == (0, 0, 0) and ui.app.surface.get_at((2, 2))[:3] == (0, 0, 0)
        assert "Normal text" in ui.texts() and "Normal contrast" in ui.texts()
        ui.press("sign up")
        ui.shot("email-large-high")
        assert theme.BACKGROUND == (0, 0, 0)
        ui.press("start over")
        ui.step()
        assert theme.BACKGROUND == theme.STANDARD["BACKGROUND"] and ui.app.painter.text_scale == 1.0
        assert not ui.problems, ui.problems[:3]
    finally:
        theme.use(False)
        ui.app.close()


def test_configured_defaults_start_every_visit(tmp_path, pipeline):
    ui = driver(tmp_path, pipeline, "choices-defaults", high_contrast=True, large_text=True)
    try:
        ui.step()
        assert theme.BACKGROUND == (0, 0, 0) and ui.app.painter.text_scale > 1.0
        ui.press("high contrast")
        assert theme.BACKGROUND != (0, 0, 0)
        ui.press("sign up")
        ui.press("start over")
        ui.step()
        assert theme.BACKGROUND == (0, 0, 0)
    finally:
        theme.use(False)
        ui.app.close()


def test_help_shows_the_configured_text(tmp_path, pipeline):
    ui = driver(tmp_path, pipeline, "choices-help", help_text={"en": "Staff at the front desk can help. Phone 0123 456789."})
    try:
        ui.step()
        ui.press("help")
        ui.shot("help")
        assert "Staff at the front desk can help. Phone 0123 456789." in ui.texts()
        # the start screen's buttons are not under the finger while help shows
        ui.tap(ui.app.screen.widgets[0].rect.center)
        assert ui.flow.step is Step.ATTRACT
        ui.press("close help")
        ui.step()
        assert not [r for r in ui.app.painter.records if "help dialog" in r.owner]
        ui.press("language")
        ui.press("help")
        assert any("Personal" in text for text in ui.texts()), ui.texts()  # the default, in German
        assert not ui.problems, ui.problems[:3]
    finally:
        ui.app.close()


def post_text(text: str) -> None:
    pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=text))


def post_key(key: int) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))


def test_a_hardware_keyboard_types_into_the_field(tmp_path, pipeline):
    ui = driver(tmp_path, pipeline, "choices-hardware-keyboard")
    try:
        ui.step()
        post_text("x")  # no field on the start screen: nothing happens
        ui.step()
        ui.press("sign up")
        for char in "ann@example.orgg":  # a keyboard wedge types one character per event
            post_text(char)
        ui.step()
        assert ui.flow.text == "ann@example.orgg"
        post_key(pygame.K_BACKSPACE)
        ui.step()
        assert ui.flow.text == "ann@example.org"
        post_key(pygame.K_RETURN)
        ui.step()
        assert ui.flow.step is Step.SIGNUP_PASSWORD
        ui.flow.act("start_over")
        ui.step()
        ui.flow.go(Step.ADMIN_PIN)
        ui.step()
        post_text("12ab34")
        ui.step()
        assert ui.flow.text == "1234"  # a PIN takes digits only
    finally:
        ui.app.close()

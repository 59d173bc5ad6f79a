"""Touch input, the on-screen keyboard and the password field, headless."""

from __future__ import annotations

import pygame
import pytest

from kiosk.flows import Step
from kiosk.ui import keyboard as kb
from kiosk.ui.events import DOWN, MOUSE_ID, MOVE, UP, to_pointer
from kiosk.ui.keyboard import Keyboard
from kiosk.ui.layout import Layout
from ui_support import ADMIN_PIN, Driver, FakeClock, make_app

REQUIRED_SYMBOLS = "@._-+!#$%&*"


@pytest.fixture
def ui(tmp_path, pipeline):
    clock = FakeClock(100.0)
    driver = Driver(make_app(tmp_path, pipeline, clock=clock))
    driver.clock = clock
    yield driver
    driver.app.close()
    assert not driver.problems, driver.problems[:5]


def on_email_screen(ui) -> None:
    ui.press("sign up")
    assert ui.flow.step == Step.SIGNUP_EMAIL


def test_finger_events_map_to_pixels_and_synthetic_mouse_is_dropped():
    size = (800, 480)
    finger = pygame.event.Event(pygame.FINGERDOWN, touch_id=3, finger_id=1, x=0.5, y=0.25, dx=0, dy=0, pressure=1.0)
    pointer = to_pointer(finger, size)
    assert pointer.kind == DOWN and pointer.pos == (400, 120) and pointer.id == "finger:3:1"
    edge = pygame.event.Event(pygame.FINGERUP, touch_id=3, finger_id=1, x=1.0, y=1.2, dx=0, dy=0, pressure=0.0)
    assert to_pointer(edge, size).pos == (799, 479) and to_pointer(edge, size).kind == UP
    synthetic = pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(400, 120), button=1, touch=True)
    assert to_pointer(synthetic, size) is None
    mouse = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(10, 20), button=1, touch=False)
    assert to_pointer(mouse, size) == to_pointer(mouse, size) and to_pointer(mouse, size).id == MOUSE_ID
    assert to_pointer(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(1, 1), button=3, touch=False), size) is None
    hover = pygame.event.Event(pygame.MOUSEMOTION, pos=(5, 5), rel=(1, 1), buttons=(0, 0, 0), touch=False)
    assert to_pointer(hover, size) is None
    drag = pygame.event.Event(pygame.MOUSEMOTION, pos=(5, 5), rel=(1, 1), buttons=(1, 0, 0), touch=False)
    assert to_pointer(drag, size).kind == MOVE


def test_a_tap_types_once_with_touch_and_with_the_mouse(ui):
    on_email_screen(ui)
    ui.tap(ui.key("a").rect.center)  # FINGER events plus SDL's mouse copies
    assert ui.flow.text == "a"
    ui.click(ui.key("b").rect.center)  # a real mouse
    assert ui.flow.text == "ab"
    ui.synthetic_mouse = False
    ui.tap(ui.key("c").rect.center)
    assert ui.flow.text == "abc"


def test_the_synthetic_mouse_copy_alone_types_nothing(ui):
    on_email_screen(ui)
    pos = ui.key("q").rect.center
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1, touch=True))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1, touch=True))
    ui.step()
    assert ui.flow.text == ""


def test_a_key_types_on_release_and_sliding_off_the_keyboard_cancels(ui):
    on_email_screen(ui)
    key = ui.key("g")
    ui.touch_down(key.rect.center)
    ui.step()
    assert ui.flow.text == "", "nothing is typed while the finger is down"
    ui.touch_up(key.rect.center)
    ui.step()
    assert ui.flow.text == "g"
    ui.touch_down(key.rect.center)
    ui.step()
    ui.touch_up((key.rect.centerx, 10))  # lifted far above the keyboard
    ui.step()
    assert ui.flow.text == "g"


def test_sliding_to_the_next_key_types_the_key_lifted_on(ui):
    on_email_screen(ui)
    start, end = ui.key("f").rect.center, ui.key("g").rect.center
    ui.touch_down(start)
    ui.step()
    width, height = ui.app.surface.get_size()
    pygame.event.post(pygame.event.Event(pygame.FINGERMOTION, touch_id=1, finger_id=0, x=end[0] / width, y=end[1] / height, dx=0.0, dy=0.0, pressure=1.0))
    ui.step()
    ui.touch_up(end)
    ui.step()
    assert ui.flow.text == "g"


def test_two_fingers_are_two_taps(ui):
    on_email_screen(ui)
    ui.touch_down(ui.key("h").rect.center, finger=0)
    ui.touch_down(ui.key("i").rect.center, finger=1)
    ui.step()
    ui.touch_up(ui.key("h").rect.center, finger=0)
    ui.touch_up(ui.key("i").rect.center, finger=1)
    ui.step()
    assert ui.flow.text == "hi"


def test_backspace_acts_on_press_and_repeats_while_held(ui):
    on_email_screen(ui)
    ui.flow.set_text("abcdefghij")
    back = ui.key(kb.BACKSPACE).rect.center
    ui.touch_down(back)
    ui.step()
    assert ui.flow.text == "abcdefghi"
    ui.clock.advance(0.4)
    ui.step()
    assert ui.flow.text == "abcdefghi", "no repeat before the delay"
    ui.clock.advance(0.15)
    ui.step()
    assert ui.flow.text == "abcdefgh"
    for _ in range(3):
        ui.clock.advance(kb.REPEAT_EVERY_S)
        ui.step()
    assert ui.flow.text == "abcde"
    ui.touch_up(back)
    ui.step()
    ui.clock.advance(1.0)
    ui.step()
    assert ui.flow.text == "abcde", "lifting stops the repeat, and the lift itself deletes nothing"


def test_shift_caps_and_symbols(ui):
    on_email_screen(ui)
    ui.tap(ui.key(kb.SHIFT).rect.center)
    ui.tap(ui.key("a").rect.center)
    ui.tap(ui.key("a").rect.center)
    assert ui.flow.text == "Aa", "shift applies to one letter"
    ui.tap(ui.key(kb.CAPS).rect.center)
    ui.tap(ui.key("b").rect.center)
    ui.tap(ui.key("c").rect.center)
    ui.tap(ui.key(kb.CAPS).rect.center)
    ui.tap(ui.key("d").rect.center)
    assert ui.flow.text == "AaBCd"
    ui.flow.set_text("")
    ui.type(REQUIRED_SYMBOLS + "9")
    assert ui.flow.text == REQUIRED_SYMBOLS + "9"


def test_layouts_have_the_required_keys():
    layout = Layout(800, 480)
    noop = lambda *a: None  # noqa: E731
    for kind in ("email", "text"):
        board = Keyboard(layout, kind, noop, noop, noop)
        codes = {k.code for k in board.keys}
        board.symbols = True
        board.keys = board._build()
        codes |= {k.code for k in board.keys}
        assert set(REQUIRED_SYMBOLS) <= codes, kind
        assert set("0123456789abcdefghijklmnopqrstuvwxyz") <= codes
        assert {kb.SHIFT, kb.CAPS, kb.BACKSPACE, kb.SUBMIT} <= codes
    email = {k.code for k in Keyboard(layout, "email", noop, noop, noop).keys}
    assert {"@", ".com"} <= email and kb.SPACE not in email
    assert kb.SPACE in {k.code for k in Keyboard(layout, "text", noop, noop, noop).keys}


@pytest.mark.parametrize("size, minimum", [((800, 480), 60), ((1024, 600), 75), ((1280, 800), 96), ((1920, 1080), 135)])
def test_keys_are_big_enough_and_scale(size, minimum):
    layout = Layout(*size)
    noop = lambda *a: None  # noqa: E731
    for kind in ("email", "text", "pin"):
        board = Keyboard(layout, kind, noop, noop, noop)
        screen = layout.screen
        for key in board.keys:
            assert key.rect.height >= minimum and key.rect.width >= minimum, (kind, key.code, key.rect)
            assert screen.contains(key.rect)
        for a in board.keys:  # no two keys overlap
            assert not any(a is not b and a.rect.colliderect(b.rect) for b in board.keys), a.code


def test_password_is_masked_and_the_eye_reveals_it_only_while_held(ui):
    ui.press("sign up")
    ui.flow.set_text("ann@example.org")
    ui.submit()
    assert ui.flow.step == Step.SIGNUP_PASSWORD
    ui.type("Secret 12")
    ui.step()
    assert "Secret 12" not in ui.texts() and "•" * 9 in ui.texts()
    eye = ui.screen.field.eye.rect.center
    ui.touch_down(eye)
    ui.step()
    assert "Secret 12" in ui.texts()
    ui.touch_up(eye)
    ui.step()
    assert "Secret 12" not in ui.texts()
    assert ui.flow.text == "Secret 12", "the eye types nothing"


def test_a_tap_on_next_does_not_fall_through_to_the_next_screen(ui):
    on_email_screen(ui)
    ui.flow.set_text("ann@example.org")
    ui.submit()
    assert ui.flow.step == Step.SIGNUP_PASSWORD and ui.flow.text == ""


def test_a_button_fires_once_and_sliding_off_cancels(ui):
    start = ui.button("sign in").rect
    ui.touch_down(start.center)
    ui.step()
    width, height = ui.app.surface.get_size()
    pygame.event.post(pygame.event.Event(pygame.FINGERMOTION, touch_id=1, finger_id=0, x=0.02, y=0.02, dx=0.0, dy=0.0, pressure=1.0))
    ui.step()
    ui.touch_up((5, 5))
    ui.step()
    assert ui.flow.step == Step.ATTRACT
    ui.press("sign in")
    assert ui.flow.step == Step.SIGNIN_EMAIL


def test_admin_pin_pad(ui):
    ui.press("admin")
    assert ui.flow.step == Step.ADMIN_PIN
    for digit in ADMIN_PIN:
        ui.tap(ui.key(digit).rect.center)
    ui.submit()
    ui.wait_for(lambda: ui.flow.step == Step.ADMIN, what="the PIN checked by the store")
    ui.wait_for(lambda: ui.flow.session.user_count is not None, what="the user count")
    ui.step()
    texts = ui.texts()
    assert "sync not configured" in texts and "0" in texts
    assert any(ui.flow.info.model_id in t for t in texts)


def test_cursor_hidden_and_window_at_the_configured_size(ui):
    assert ui.app.surface.get_size() == (800, 480)
    assert not pygame.mouse.get_visible()

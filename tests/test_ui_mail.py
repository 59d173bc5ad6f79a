"""Sign-up with email confirmation through the real UI (SDL dummy driver, the kiosk's own
wiring with its mail worker thread), the real store and an SMTP server in this process.

The screen after a sign-up must not tell a stranger whether the address was registered:
the code screen of a new address and of a taken one are compared pixel for pixel.
"""

from __future__ import annotations

import time
from typing import Any

import pygame
import pytest

from kiosk.camera import ImageFolderSource
from kiosk.camera.scripted import person_frames, write_folder
from kiosk.flows import Step
from kiosk.store import Store
from kiosk.store import mail as mail_store
from mail_support import SilentListener, SmtpServer
from test_ui_journeys import PASSWORD, driven  # noqa: F401 - the fixture
from ui_support import PERSON_A, PERSON_B, Driver, enroll_directly, store_settings

EMAIL = "ann@example.com"


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


def build(tmp_path, pipeline, smtp: SmtpServer, **mail: Any):
    from kiosk.assembly import Overrides, build_kiosk

    settings = store_settings(tmp_path, mail=smtp.mail_settings(**mail))
    ui = settings.ui.model_copy(update={"fullscreen": False, "width": 800, "height": 480})
    settings = settings.model_copy(update={"ui": ui})
    frames = write_folder(person_frames(PERSON_A), tmp_path / "camera")
    pygame.display.init()
    surface = pygame.display.set_mode((800, 480))
    overrides: dict[str, Any] = {"surface": surface, "pipeline": pipeline, "sync": False,
                                 "open_camera": lambda: ImageFolderSource(frames, fps=30, loop=True)}
    kiosk = build_kiosk(settings, Overrides(**overrides))
    kiosk.close_store()
    assert kiosk.mail is not None, "mail is configured: the kiosk runs its sender"
    return kiosk, settings


def sign_up_to_the_code(ui: Driver) -> None:
    flow = ui.flow
    ui.press("sign up")
    ui.type(EMAIL)
    ui.submit()
    ui.type(PASSWORD)
    ui.submit()
    ui.type(PASSWORD)
    ui.submit()
    ui.press("agree")
    ui.wait_step(Step.SIGNUP_CODE)
    ui.step(3)


@pytest.mark.slow
def test_sign_up_with_the_emailed_code_and_a_taken_address_looks_the_same(tmp_path, pipeline, smtp, driven):  # noqa: F811
    (tmp_path / "new").mkdir()
    kiosk, settings = build(tmp_path / "new", pipeline, smtp)
    try:
        ui = driven(kiosk.app, "mail-new")
        sign_up_to_the_code(ui)
        ui.shot("code")
        new_screen = pygame.image.tobytes(ui.app.surface, "RGB")
        new_texts = sorted(ui.texts())
        [mail] = smtp.wait_for(1)
        assert mail.recipients == [EMAIL] and mail.code()
        ui.type(mail.code())
        ui.submit()
        ui.wait_step(Step.SIGNUP_DONE)
        ui.shot("done")
        with Store.open(settings) as store:
            assert mail_store.is_confirmed(store, store.get_user(EMAIL).id)
    finally:
        kiosk.close(timeout=10)

    (tmp_path / "taken").mkdir()
    taken_settings = store_settings(tmp_path / "taken", mail=smtp.mail_settings())
    enroll_directly(taken_settings, pipeline, EMAIL, "the owner's password 7", PERSON_B)
    kiosk, settings = build(tmp_path / "taken", pipeline, smtp)
    try:
        ui = driven(kiosk.app, "mail-taken")
        sign_up_to_the_code(ui)
        ui.shot("code")
        assert sorted(ui.texts()) == new_texts
        assert pygame.image.tobytes(ui.app.surface, "RGB") == new_screen, "the taken address's screen differs"
        mails = smtp.wait_for(2)
        assert mails[1].subject == "A sign-up with your email address" and mails[1].code() is None
    finally:
        kiosk.close(timeout=10)


@pytest.mark.slow
def test_a_sign_up_in_german_on_screen_gets_its_code_email_in_german(tmp_path, pipeline, smtp, driven):  # noqa: F811
    """The language button on the start screen, then a sign-up: the code email is German
    (the screen's choice reaches the account through the flow), and the account keeps it."""
    kiosk, settings = build(tmp_path, pipeline, smtp)
    try:
        ui = driven(kiosk.app, "mail-german")
        ui.press("language")
        assert ui.app.prefs.language == "de"
        sign_up_to_the_code(ui)
        [mail] = smtp.wait_for(1)
        assert mail.subject == f"Ihr FaceKiosk-Bestätigungscode: {mail.code()}"
        assert "Ihr Bestätigungscode lautet" in mail.body and mail.message.get_content_charset() == "utf-8"
        with Store.open(settings) as store:
            assert mail_store.language_of(store, store.get_user(EMAIL).id) == "de"
    finally:
        kiosk.close(timeout=10)


@pytest.mark.slow
def test_a_relay_hanging_in_the_tls_handshake_never_holds_up_the_screen(tmp_path, pipeline, smtp, driven):  # noqa: F811
    """mail.tls: tls to a relay that accepts the connection and never answers the TLS
    handshake (timeout_s 10): while the kiosk's mail thread waits on it, the sign-up
    reaches the code screen and answers a typed code; the email stays queued."""
    silent = SilentListener()
    kiosk, settings = build(tmp_path, pipeline, smtp, host="localhost", port=silent.port, tls="tls", timeout_s=10.0)
    try:
        ui = driven(kiosk.app, "mail-hanging-tls")
        sign_up_to_the_code(ui)
        reached = time.monotonic()
        assert _pending(settings) == 1  # queued, not sent
        ui.type("123456")
        ui.submit()
        ui.wait_for(lambda: ui.flow.session.message is not None and not ui.flow.busy, 5.0, what="the code's answer")
        assert ui.flow.session.message.msgid.startswith("That code is not right")
        assert kiosk.mail.failed == 0, "the handshake was still hanging all along"
        assert time.monotonic() - reached < 8.0
    finally:
        kiosk.close(timeout=10)
        silent.close()


def _pending(settings) -> int:
    with Store.open(settings) as store:
        return mail_store.counts(store).pending

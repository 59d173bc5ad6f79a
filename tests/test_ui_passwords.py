"""A guessable password refused through the real UI (SDL dummy driver), saying why in
English and in German (issue 15: `password` used to be accepted)."""

from __future__ import annotations

import pytest

from kiosk.flows import Step
from test_ui_journeys import driven  # noqa: F401 - the fixture
from ui_support import make_app, store_settings


@pytest.mark.parametrize("language, why", [("en", "Too easy to guess: a common password, or close to one"),
                                            ("de", "Zu leicht zu erraten: ein häufiges Passwort oder fast eines")])
def test_a_common_password_is_refused_with_the_reason(tmp_path, pipeline, driven, language, why):  # noqa: F811
    ui = driven(make_app(tmp_path, pipeline, store=store_settings(tmp_path), language=language))
    flow = ui.flow
    ui.press("sign up")  # buttons are named in English whatever the language
    ui.type("ann@example.com")
    ui.submit()
    assert flow.step == Step.SIGNUP_PASSWORD
    ui.type("password1")
    ui.submit()
    ui.step(2)
    assert flow.step == Step.SIGNUP_PASSWORD, "refused"
    assert why in ui.texts(), ui.texts()
    ui.shot("refused")

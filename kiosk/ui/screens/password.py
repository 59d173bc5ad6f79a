"""Typing a password: a new one with its rules shown live, or the sign-in password.
Masked, with an eye to hold for seeing what was typed."""

from __future__ import annotations

import pygame

from kiosk.flows.machine import Step
from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen

TITLES = {
    Step.SIGNUP_PASSWORD: N_("Sign up: choose a password"),
    Step.RESET_PASSWORD: N_("Choose a new password"),
    Step.SIGNIN_PASSWORD: N_("Sign in: your password"),
}


class PasswordScreen(EntryScreen):
    name = "password"
    masked = True
    placeholder = N_("Password")

    @property
    def submit_label(self):  # type: ignore[override]
        return N_("Sign in") if self.flow.step == Step.SIGNIN_PASSWORD else N_("Next")

    def heading(self):
        return TITLES.get(self.flow.step)

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
            return
        if self.flow.step == Step.SIGNIN_PASSWORD:
            self.draw_check(Check(False, N_("Hold the eye to see what you typed"), hint=True), box)
            return
        checks = self.flow.password_feedback()
        gap = self.layout.px(12)
        width = (box.width - gap * (len(checks) - 1)) // len(checks)
        for i, check in enumerate(checks):
            self.draw_check(check, pygame.Rect(box.left + i * (width + gap), box.top, width, box.height), size=20)

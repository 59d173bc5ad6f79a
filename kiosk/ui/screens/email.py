"""Typing the email address, for every journey; it is checked as it is typed."""

from __future__ import annotations

import pygame

from kiosk.flows.machine import Step
from kiosk.flows.validation import Check
from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen

TITLES = {
    Step.SIGNUP_EMAIL: N_("Sign up: your email address"),
    Step.SIGNIN_EMAIL: N_("Sign in: your email address"),
    Step.RESET_EMAIL: N_("Forgot password: your email address"),
}


class EmailScreen(EntryScreen):
    name = "email"
    keyboard_kind = "email"
    placeholder = N_("name@example.org")

    def heading(self):
        return TITLES.get(self.flow.step)

    def feedback(self, box: pygame.Rect) -> None:
        session = self.flow.session
        if session.message is not None:
            self.draw_check(Check(False, session.message), box, error=True)
        else:
            self.draw_check(self.flow.email_feedback(), box)

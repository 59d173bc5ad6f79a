"""Journey ends: account created, password changed, signed in."""

from __future__ import annotations

from kiosk.flows.machine import Step
from kiosk.i18n import N_, Text
from kiosk.ui.screens.base import MessageScreen


class ResultScreen(MessageScreen):
    name = "result"

    def heading(self) -> Text | None:
        return {
            Step.SIGNUP_DONE: N_("Sign up: done"),
            Step.RESET_DONE: N_("Forgot password: done"),
            Step.WELCOME: N_("Welcome"),
        }.get(self.flow.step)

    def headline(self) -> Text:
        session = self.flow.session
        step = self.flow.step
        if step == Step.SIGNUP_DONE:
            return N_("Your account {email} is ready.", email=session.email.address if session.email else "")
        if step == Step.RESET_DONE:
            return N_("Your password has been changed.")
        return N_("You are signed in as {email}.", email=session.signed_in_email or "")

    def body(self) -> Text:
        step = self.flow.step
        if step == Step.SIGNUP_DONE:
            return N_("If you ever forget your password, you can set a new one here with your face.")
        if step == Step.RESET_DONE:
            return N_("Use the new password from now on.")
        return N_("Sign out when you are done.")

    def actions(self):
        label = N_("Sign out") if self.flow.step == Step.WELCOME else N_("Done")
        return [(label, lambda: self.flow.act("finish"), "primary", "done")]

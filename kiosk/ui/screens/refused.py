"""Forgot password: the face was not verified. Says the same whether or not the email
has an account."""

from __future__ import annotations

from kiosk.flows.steps import Action
from kiosk.i18n import N_, NP_, Text
from kiosk.ui.screens.base import ButtonSpec, MessageScreen


class RefusedScreen(MessageScreen):
    name = "refused"
    mark = "bad"

    def headline(self) -> Text | None:
        session = self.flow.session
        if session.message is None:
            return None
        if session.attempts_left is None:
            return session.message
        tries = NP_("{n} try left.", "{n} tries left.", session.attempts_left)
        return N_("{problem} {tries}", problem=session.message, tries=tries)

    def body(self) -> Text:
        return N_("Make sure only your face is in the picture, in good light, and look at the camera.")

    def actions(self) -> list[ButtonSpec]:
        # No "Cancel": it did what the top bar's Start over does.
        return [(N_("Try again"), lambda: self.flow.act(Action.RETRY), "primary", "try again")]

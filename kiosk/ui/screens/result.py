"""Journey ends (account created, password changed, signed in): the step's own headline,
explanation and button."""

from __future__ import annotations

from kiosk.ui.screens.base import MessageScreen


class ResultScreen(MessageScreen):
    name = "result"

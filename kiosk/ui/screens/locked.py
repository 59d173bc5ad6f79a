"""Too many failed attempts: how long until the next try."""

from __future__ import annotations

from kiosk.i18n import N_, Text
from kiosk.ui.screens.base import MessageScreen


class LockedScreen(MessageScreen):
    name = "locked"
    title = N_("Please wait")
    mark = "wait"

    def headline(self) -> Text:
        return self.flow.lock_text()

    def body(self) -> Text:
        return N_("This pause protects accounts against guessing.")

    def actions(self):
        return [(N_("OK"), lambda: self.flow.act("finish"), "primary", "ok")]

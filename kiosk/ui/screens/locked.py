"""Too many failed attempts: how long until the next try."""

from __future__ import annotations

from kiosk.ui.screens.base import MessageScreen


class LockedScreen(MessageScreen):
    name = "locked"
    mark = "wait"
    button_name = "ok"

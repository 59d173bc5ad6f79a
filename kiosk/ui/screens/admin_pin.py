"""The admin PIN, on a number pad."""

from __future__ import annotations

from kiosk.i18n import N_
from kiosk.ui.screens.base import EntryScreen


class AdminPinScreen(EntryScreen):
    name = "admin_pin"
    keyboard_kind = "pin"
    masked = True
    placeholder = N_("PIN")

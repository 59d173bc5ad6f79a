"""Errors of fleet trust an administrator can act on (one line each, exit status 2)."""

from kiosk.errors import KioskError


class FleetError(KioskError):
    """A key file, certificate or fleet setting is missing, unreadable or does not match."""

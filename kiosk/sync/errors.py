"""Errors of the sync engine that an admin can act on (one clear line each)."""

from kiosk.errors import KioskError


class SyncError(KioskError):
    """Sync cannot start: configuration, credentials or the local store do not allow it."""

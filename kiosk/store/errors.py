"""Errors of the user store that the UI shows as they are (one clear line each)."""

from __future__ import annotations

from kiosk.errors import KioskError, StoreError, ValidationError

__all__ = [
    "AuthenticationError",
    "DuplicateFaceError",
    "EmailTakenError",
    "LockedOutError",
    "ReenrollRequiredError",
    "StoreError",
    "UnknownUserError",
    "ValidationError",
]


class UnknownUserError(KioskError):
    """No (live) user has this email."""


class EmailTakenError(ValidationError):
    """Enrollment with an email that already belongs to a user."""


class DuplicateFaceError(KioskError):
    """Enrollment refused: the face is already registered to another user."""

    def __init__(self, message: str, user_id: str, distance: float) -> None:
        super().__init__(message)
        self.user_id = user_id
        self.distance = distance


class ReenrollRequiredError(KioskError):
    """The user's templates were made by another face model and are never compared."""


class AuthenticationError(KioskError):
    """Wrong password (or no such email: the two are deliberately not told apart)."""

    exit_status = 1


class LockedOutError(KioskError):
    """Too many failed attempts; ``remaining_s`` says how long until the next try."""

    def __init__(self, message: str, scope: str, remaining_s: float) -> None:
        super().__init__(message)
        self.scope = scope  # "email" or "kiosk"
        self.remaining_s = remaining_s

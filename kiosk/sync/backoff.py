"""The sync engine's retry delays: :class:`kiosk.backoff.Backoff` (one class for every retry
loop), under the name this module has always offered."""

from __future__ import annotations

from kiosk.backoff import Backoff

__all__ = ["Backoff"]

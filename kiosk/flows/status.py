"""What the admin screen shows about the rest of the kiosk, behind small interfaces.

The sync engine's ``status`` is a :class:`SyncStatusProvider` (its snapshots have the
fields of :class:`SyncState`); without sync :func:`sync_not_configured` is used and the
admin screen says "sync not configured".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol


@dataclass(frozen=True)
class SyncStatus:
    configured: bool
    state: str = ""  # e.g. "idle", "syncing", "offline", "error": shown as is
    pending_changes: int = 0  # local changes not yet sent
    last_success_at: float | None = None  # wall-clock seconds of the last complete sync
    detail: str = ""  # one line for the admin (an error, the server's name)


class SyncState(Protocol):
    """What the admin screen reads of a sync status snapshot."""

    @property
    def configured(self) -> bool: ...

    @property
    def state(self) -> str: ...

    @property
    def pending_changes(self) -> int: ...

    @property
    def last_success_at(self) -> float | None: ...

    @property
    def detail(self) -> str: ...


class SyncStatusProvider(Protocol):
    def __call__(self) -> SyncState: ...


def sync_not_configured() -> SyncStatus:
    return SyncStatus(configured=False)


@dataclass(frozen=True)
class KioskInfo:
    """Facts about this kiosk that do not change while it runs."""

    version: str
    model_id: str
    language: str


CameraFps = Callable[[], float]

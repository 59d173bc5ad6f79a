"""What the admin screen and the daemon's STATUS line show about sync.

``SyncEngine.status`` is the provider: any thread may call it, it returns a frozen
snapshot and never touches the network or the database. The first five fields match
``kiosk.flows.status.SyncStatus``, so the admin screen can read either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

STARTING = "starting"
ONLINE = "online"
OFFLINE = "offline"
STOPPED = "stopped"
DISABLED = "disabled"


def _clock_text(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SyncStatus:
    configured: bool
    state: str = DISABLED  # starting | online | offline | stopped | disabled
    pending_changes: int = 0  # local changes not yet in the cloud
    last_success_at: float | None = None  # wall clock of the last pass that reached the cloud
    detail: str = ""  # the last error while offline, else the database
    offline_since: float | None = None  # wall clock of the first failure of this outage
    listening: bool = False  # the live stream is open
    quarantined: int = 0  # cloud records refused (untrusted or malformed), kept for review
    set_aside: int = 0  # users whose local changes the server kept refusing (kiosk/store/poison.py)

    @property
    def online(self) -> bool:
        return self.state == ONLINE

    def line(self) -> str:
        """One line, e.g. ``sync offline since 2025-01-02T10:00:00Z, 17 pending (...)``."""
        if not self.configured:
            return "sync not configured"
        text = f"sync {self.state}"
        if self.state == OFFLINE and self.offline_since is not None:
            text += f" since {_clock_text(self.offline_since)}"
        text += f", {self.pending_changes} pending"
        if self.quarantined:
            text += f", {self.quarantined} quarantined"
        if self.set_aside:
            text += f", {self.set_aside} set aside"
        if self.state == OFFLINE and self.detail:
            text += f" ({self.detail})"
        return text


def not_configured() -> SyncStatus:
    return SyncStatus(configured=False)

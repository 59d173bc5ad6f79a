"""Fleet time: the server's clock carried forward on this machine's monotonic clock.

Attempt waits are measured on it, so a step of the system clock (back or forward, by hand,
by NTP after a boot without a real-time clock) neither extends nor clears them. The anchor
(``meta`` row ``fleet_clock``: boot id, monotonic seconds, fleet ms, and the offset of fleet
time from the wall clock) is written by sync each time it reads the server's time, and at
open when the machine has booted since (the monotonic clock restarts at boot): then the wall
clock plus the last known offset is the best estimate until sync reads the server again. A
kiosk without sync keeps its own time the same way (the offset stays 0).

The monotonic clock is system-wide, so the sync thread's store and the UI's store (two
connections, one file) agree on fleet time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

_KEY = "fleet_clock"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Anchor:
    boot: str
    mono_s: float
    fleet_ms: int
    offset_ms: int  # fleet time minus wall time when anchored

    def encode(self) -> bytes:
        return json.dumps({"boot": self.boot, "mono": self.mono_s, "ms": self.fleet_ms, "offset": self.offset_ms}).encode()


class FleetClock:
    def __init__(
        self, conn: sqlite3.Connection, wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic, boot: str | None = None,
    ) -> None:
        self.conn = conn
        self.wall = wall
        self.monotonic = monotonic
        self.boot = boot_id() if boot is None else boot

    def _anchor(self) -> Anchor | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()
        if row is None:
            return None
        try:
            data = json.loads(bytes(row[0]))
            return Anchor(str(data["boot"]), float(data["mono"]), int(data["ms"]), int(data["offset"]))
        except (ValueError, KeyError, TypeError):
            return None

    def _write(self, anchor: Anchor) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_KEY, anchor.encode()))

    def start(self) -> None:
        """At open: anchor this boot if it is not yet (caller's transaction)."""
        anchor = self._anchor()
        if anchor is None or anchor.boot != self.boot:
            offset = anchor.offset_ms if anchor is not None else 0
            self._write(Anchor(self.boot, self.monotonic(), int(self.wall() * 1000) + offset, offset))

    def now_ms(self) -> int:
        anchor = self._anchor()
        if anchor is None or anchor.boot != self.boot:
            return int(self.wall() * 1000) + (anchor.offset_ms if anchor is not None else 0)
        return anchor.fleet_ms + int(round((self.monotonic() - anchor.mono_s) * 1000))

    def now(self) -> float:
        """Fleet time in seconds."""
        return self.now_ms() / 1000.0

    def set_server_time(self, server_ms: int) -> None:
        """Sync read the server's time: fleet time is that from now on (caller's transaction)."""
        self._write(Anchor(self.boot, self.monotonic(), int(server_ms), int(server_ms) - int(self.wall() * 1000)))

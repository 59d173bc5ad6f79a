"""Progress-based watchdog: ping systemd only while every loop is making progress.

Each loop (the UI loop, the face worker, the sync engine) beats its own heartbeat. The
pinger sends WATCHDOG=1 only when every heartbeat is fresh, so one hung loop stops the
pings and systemd restarts the service, even though the process itself is alive.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class Heartbeats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}

    def beat(self, name: str) -> None:
        with self._lock:
            self._beats[name] = self._clock()

    def forget(self, name: str) -> None:
        with self._lock:
            self._beats.pop(name, None)

    def stale(self, max_age_s: float) -> list[str]:
        """Names of the loops that have not beaten within ``max_age_s``."""
        now = self._clock()
        with self._lock:
            return sorted(name for name, at in self._beats.items() if now - at > max_age_s)


class WatchdogPinger:
    """A thread that pings every ``interval_s`` while no heartbeat is older than ``max_age_s``."""

    def __init__(self, heartbeats: Heartbeats, ping: Callable[[], None], interval_s: float, max_age_s: float,
                 on_stale: Callable[[list[str]], None] = lambda names: None) -> None:
        self._heartbeats = heartbeats
        self._ping = ping
        self._interval = interval_s
        self._max_age = max_age_s
        self._on_stale = on_stale
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        reported: list[str] = []
        while not self._stop.wait(self._interval):
            stale = self._heartbeats.stale(self._max_age)
            if not stale:
                self._ping()
            elif stale != reported:
                self._on_stale(stale)
            reported = stale

"""sd_notify: tell systemd when the kiosk is ready, what it is doing, that it is alive.

Uses systemd-python's ``daemon.notify``; without it (a developer laptop with no
libsystemd) the datagram protocol is spoken directly, as it is only a line per message.
Both are no-ops when ``$NOTIFY_SOCKET`` is unset (not started by systemd).
"""

from __future__ import annotations

import os
import socket
from typing import Callable


def _send_raw(message: str) -> bool:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
    return True


def _default_sender() -> Callable[[str], bool]:
    try:
        import systemd.daemon as daemon
    except ImportError:
        return _send_raw
    notify: Callable[[str], bool] = daemon.notify
    return notify


class Notifier:
    def __init__(self, send: Callable[[str], bool] | None = None) -> None:
        self._send = send or _default_sender()
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec for this process, or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None

"""Logging to the journal under systemd, to stderr otherwise, with structured fields.

Events carry fields (EVENT, EMAIL_HASH, SCORE, ...) that the journal indexes, e.g.
``journalctl -u facekiosk EVENT=reset_refused``; on stderr they follow the message as
``key=value``. Emails never appear in logs: only the store's keyed hash.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum
from typing import IO

FIELD_NAMES = ("EVENT", "EMAIL_HASH", "SCORE", "REASON", "LIVENESS", "USER_COUNT", "SYNC_STATE")


class ServiceEvent(str, Enum):
    """The service's own journal events (the journeys' are kiosk.flows.events.EventName).
    The README lists every one (a test checks both ways)."""

    START = "start"
    READY = "ready"
    WAITING_CAMERA = "waiting_camera"
    CAMERA_LOST = "camera_lost"
    CAMERA_RECOVERED = "camera_recovered"
    RELOAD = "reload"
    RELOAD_FAILED = "reload_failed"
    RELOAD_RESTART_NEEDED = "reload_restart_needed"
    WATCHDOG_STALE = "watchdog_stale"
    STOPPING = "stopping"
    STOPPED = "stopped"
    TEST_FREEZE = "test_freeze"  # test hooks only (FACEKIOSK_TEST_HOOKS=1)
    TEST_JOURNEY = "test_journey"


class _FieldsFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{name.lower()}={getattr(record, name)}" for name in FIELD_NAMES if hasattr(record, name))
        return f"{text} {fields}" if fields else text


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> logging.Logger:
    """The 'facekiosk' logger, to the journal when systemd gave us one (JOURNAL_STREAM)."""
    logger = logging.getLogger("facekiosk")
    logger.handlers.clear()
    logger.setLevel(level)
    logger.propagate = False
    handler: logging.Handler | None = None
    if os.environ.get("JOURNAL_STREAM"):
        try:
            from systemd.journal import JournalHandler

            handler = JournalHandler(SYSLOG_IDENTIFIER="facekiosk")
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(_FieldsFormatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


def log_event(logger: logging.Logger, event: Enum, message: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``message`` with EVENT=event's value and the given fields (keys are upper-cased;
    None values are left out)."""
    extra = {"EVENT": event.value, **{key.upper(): value for key, value in fields.items() if value is not None}}
    logger.log(level, message, extra=extra)

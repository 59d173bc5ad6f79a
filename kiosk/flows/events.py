"""What the journeys decided, as typed events, for the operator's journal.

The flow records an event where it decides (kiosk.flows.journeys.*), with the fields the
journal needs; the daemon only formats and sends them (kiosk.daemon.service). Emails
travel as the parsed :class:`~kiosk.store.emails.Email`; the daemon writes only its
keyed hash. The README lists every name here (a test checks both ways).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from kiosk.store.emails import Email


class EventName(str, Enum):
    ENROLL_SAVING = "enroll_saving"
    ENROLLED = "enrolled"
    ENROLL_REFUSED = "enroll_refused"
    SIGNED_IN = "signed_in"
    SIGN_IN_REFUSED = "sign_in_refused"
    RESET_ACCEPTED = "reset_accepted"
    RESET_REFUSED = "reset_refused"
    PASSWORD_RESET = "password_reset"
    LOCKED = "locked"
    TEMPLATES_ADDED = "templates_added"
    TEMPLATES_REFUSED = "templates_refused"
    STORAGE_PROBLEM = "storage_problem"  # a change not saved: the disk is full or failing
    EMAIL_CODE_SENT = "email_code_sent"
    EMAIL_CONFIRMED = "email_confirmed"
    EMAIL_CONFIRM_REFUSED = "email_confirm_refused"


@dataclass(frozen=True)
class FlowEvent:
    """One decision. ``score``: the best distance of a face check; ``reason``: the audit
    reason or the refusal's kind; ``liveness``: "passed", the challenge's failure code,
    or None when no challenge ran."""

    name: EventName
    message: str
    email: Email | None = None
    score: float | None = None
    reason: str | None = None
    liveness: str | None = None
    level: int = logging.INFO


EventSink = Callable[[FlowEvent], None]


def ignore_events(event: FlowEvent) -> None:
    """The default sink: a flow without a journal (tests, tools)."""

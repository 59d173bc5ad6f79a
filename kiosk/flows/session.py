"""Everything one person entered or showed, in one place that is wiped as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from kiosk.flows.capture import EnrollmentCapture
from kiosk.flows.faces import Templates
from kiosk.flows.jobs import Done
from kiosk.flows.steps import Action, Field, JobKind
from kiosk.flows.verify import Outcome, Verifier
from kiosk.i18n import N_, Text
from kiosk.store.emails import Email

if TYPE_CHECKING:
    from kiosk.flows.machine import Flow

START_OVER = N_("Start over")
# What takes a finished job's result: a journey's step handler.
Continuation = Callable[["Flow", Done], None]


@dataclass(frozen=True)
class Problem:
    """A failure screen: what happened, what to do, and buttons (label, action).

    ``handlers``: what the journey's own buttons do (e.g. retry the capture); Start over
    and the start screen's journeys (sign in, forgot password, ...) need none."""

    title: Text
    body: Text
    actions: tuple[tuple[Text, Action], ...]
    handlers: Mapping[Action, Callable[["Flow"], None]] = field(default_factory=dict, compare=False)


def empty_fields() -> dict[Field, str]:
    return {name: "" for name in Field}


@dataclass
class Pending:
    """A store job a journey waits for, and the step handler that takes its result."""

    kind: JobKind
    then: Continuation
    busy: Text  # shown while it runs


@dataclass
class Session:
    id: int
    fields: dict[Field, str] = field(default_factory=empty_fields)
    message: Text | None = None  # feedback under the field, or on a result screen
    message_is_error: bool = False
    email: Email | None = None
    user_id: str | None = None
    signed_in_email: str | None = None
    templates: Templates | None = None  # the reset subject's, by model id
    subject_reason: str = ""
    capture: EnrollmentCapture | None = None
    verifier: Verifier | None = None  # the reset's face check, or enrollment's liveness check
    outcome: Outcome | None = None
    refusal: Text | None = None  # why the last face check failed, when it was not the face
    attempts_left: int | None = None
    lock_until: float | None = None
    lock_scope: str | None = None
    problem: Problem | None = None
    user_count: int | None = None
    held_for_review: int | None = None  # sign-ups waiting for staff (admin screen)
    missing_models: tuple[str, ...] = ()  # the kiosk's models a signed-in person has no templates of
    language: str = ""  # the screen's language for this person ("" = the kiosk's), kept for their emails
    job: Pending | None = None

    @property
    def pending(self) -> JobKind | None:
        """The kind of store job awaited, if any."""
        return self.job.kind if self.job is not None else None

    @property
    def busy(self) -> Text | None:
        return self.job.busy if self.job is not None else None

    def forget_secrets(self) -> None:
        for name in self.fields:
            self.fields[name] = ""
        if self.capture is not None:
            self.capture.wipe()
        if self.verifier is not None:
            self.verifier.wipe()
        self.templates = None
        self.verifier = None

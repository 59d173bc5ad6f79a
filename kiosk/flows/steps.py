"""The vocabulary of the journeys: buttons (:class:`Action`), store jobs (:class:`JobKind`),
text fields (:class:`Field`) and one declared step (:class:`StepSpec`).

A journey module (kiosk.flows.journeys.*) declares each of its steps once, as a
:class:`StepSpec`: its screen, its title, the field it edits, where Back goes, whether it
needs the camera, and the handlers the flow calls for the keyboard's submit key, the
buttons, camera observations and clock ticks. The flow itself (kiosk.flows.machine.Flow)
only dispatches to them, so adding a step touches its journey's module (and, for a new
look, one screen module) and nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Callable, Mapping, Union

from kiosk.i18n import Text

if TYPE_CHECKING:
    from kiosk.flows.faces import FaceObservation
    from kiosk.flows.machine import Flow


class Action(str, Enum):
    """A button a person can press (the screens call ``Flow.act``)."""

    START_OVER = "start_over"
    BACK = "back"
    FINISH = "finish"  # Done, Sign out, OK, Cancel, Close: the journey is over
    SIGNUP = "signup"
    SIGNIN = "signin"
    RESET = "reset"
    ADMIN = "admin"
    AGREE = "agree"
    DECLINE = "decline"
    RETRY = "retry"  # another face check after a refusal
    RETRY_CAPTURE = "retry_capture"
    RETRY_SAVE = "retry_save"
    EMAIL_CODE = "email_code"  # a code by email instead of the face (forgot password)


class JobKind(str, Enum):
    """What a store job submitted by a journey does (the jobs thread's token)."""

    ENROLL = "enroll"
    SIGN_IN = "sign_in"
    RESET_LOOKUP = "reset_lookup"
    RECORD_ACCEPT = "record_accept"
    RECORD_REFUSE = "record_refuse"
    RECORD_ABANDONED = "record_abandoned"
    CHANGE_PASSWORD = "change_password"
    COUNT_USERS = "count_users"
    ADD_TEMPLATES = "add_templates"
    ADMIN_PIN = "admin_pin"
    CONFIRM_EMAIL = "confirm_email"
    SEND_RESET_CODE = "send_reset_code"
    CHECK_RESET_CODE = "check_reset_code"


class Field(str, Enum):
    """A text field of the session (the on-screen keyboard types into one)."""

    EMAIL = "email"
    PASSWORD = "password"
    CONFIRM = "confirm"
    PIN = "pin"
    CODE = "code"  # a code sent by email

    @property
    def secret(self) -> bool:
        """Cleared when the person leaves the step with Back."""
        return self is not Field.EMAIL


class Back(Enum):
    """A Back rule that is not another step."""

    START = "start"  # Back wipes the session and shows the start screen
    NONE = "none"  # no Back button on this step


BackRule = Union["StepSpec", Back]
Handler = Callable[["Flow"], None]


@dataclass(frozen=True, eq=False)
class StepSpec:
    """One step of a journey, declared in one place.

    ``screen``: the name of the screen module that draws it (kiosk.ui.screens).
    ``title``: the top bar's title, translated by the screen.
    ``field``: the text field the keyboard edits on this step, if any.
    ``back``: the step Back goes to, :attr:`Back.START` or :attr:`Back.NONE`.
    ``camera``: the face worker analyses camera frames on this step.
    ``result``: the step only shows a result: it times out after ``result_timeout_s``.
    ``submit_label``: the keyboard's submit key, or a message screen's main button.
    ``message``: for message screens, (headline, body) from the flow's state.
    ``on_submit``, ``actions``, ``on_observe``, ``on_tick``: what the flow calls for the
    submit key, a button, an analysed camera frame (observation, now), and each tick (now);
    ``on_action``: for buttons not in ``actions`` (e.g. a problem screen's).
    ``on_abandon``: called when the person leaves the step unfinished (Back, Start over,
    a timeout), before the session is changed.
    Steps compare by identity; ``name`` is stable (screenshots, tests, logs).
    """

    name: str
    screen: str
    title: Text
    back: BackRule
    field: Field | None = None
    camera: bool = False
    result: bool = False
    submit_label: Text | None = None
    message: Callable[["Flow"], tuple[Text | None, Text | None]] | None = None
    on_submit: Handler | None = None
    actions: Mapping[Action, Handler] = dataclasses.field(default_factory=dict)
    on_action: Callable[["Flow", Action], None] | None = None  # any other button
    on_observe: Callable[["Flow", "FaceObservation", float], None] | None = None
    on_tick: Callable[["Flow", float], None] | None = None
    on_abandon: Handler | None = None

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    @property
    def value(self) -> str:
        """The step's name (the value of the enum steps used to be)."""
        return self.name


@dataclass(frozen=True)
class Journey:
    """A journey's steps, and the start-screen button that enters it (if any).

    ``entry``: the step the ``start`` action leads to; ``available``: whether the start
    screen offers it now (e.g. admin only with a PIN configured and not blocked)."""

    name: str
    steps: tuple[StepSpec, ...]
    start: Action | None = None
    entry: StepSpec | None = None
    available: Callable[["Flow"], bool] | None = None

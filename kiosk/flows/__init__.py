"""The kiosk's journeys (sign up, sign in, forgot password, admin) and the flow that runs them.

Nothing here draws or imports pygame: :class:`Flow` is driven by method calls (buttons,
keys, analysed camera frames, clock ticks) and tested without a screen. Each journey is
one module of :mod:`kiosk.flows.journeys`.
"""

from kiosk.flows.events import EventName, FlowEvent
from kiosk.flows.faces import FaceObservation, FaceRules, observation_from
from kiosk.flows.jobs import InlineJobs, ThreadJobs
from kiosk.flows.journeys import Step
from kiosk.flows.machine import Flow, FlowConfig
from kiosk.flows.session import Problem, Session
from kiosk.flows.status import KioskInfo, SyncStatus, sync_not_configured
from kiosk.flows.steps import Action, JobKind, StepSpec

__all__ = [
    "Action",
    "EventName",
    "FaceObservation",
    "FaceRules",
    "Flow",
    "FlowConfig",
    "FlowEvent",
    "InlineJobs",
    "JobKind",
    "KioskInfo",
    "Problem",
    "Session",
    "Step",
    "StepSpec",
    "SyncStatus",
    "ThreadJobs",
    "observation_from",
    "sync_not_configured",
]

"""The kiosk's journeys (sign up, sign in, forgot password, admin) as a state machine.

Nothing here draws or imports pygame: :class:`Flow` is driven by method calls (buttons,
keys, analysed camera frames, clock ticks) and tested without a screen.
"""

from kiosk.flows.faces import FaceObservation, FaceRules, observation_from
from kiosk.flows.jobs import InlineJobs, ThreadJobs
from kiosk.flows.machine import Flow, FlowConfig, Problem, Session, Step
from kiosk.flows.status import KioskInfo, SyncStatus, sync_not_configured

__all__ = [
    "FaceObservation",
    "FaceRules",
    "Flow",
    "FlowConfig",
    "InlineJobs",
    "KioskInfo",
    "Problem",
    "Session",
    "Step",
    "SyncStatus",
    "ThreadJobs",
    "observation_from",
    "sync_not_configured",
]

"""Enrollment capture: collect a few good, spaced-out pictures of one face."""

from __future__ import annotations

import numpy as np

from kiosk.flows.faces import Embeddings, FaceObservation, FaceRules, guidance_for
from kiosk.i18n import N_, Text

MOVE_SLIGHTLY = N_("Good. Now move your head a little")
HOLD = N_("Hold still")
SAME_PERSON = N_("One person at a time, please")


class EnrollmentCapture:
    """Takes ``needed`` good samples at least ``interval_s`` apart, before ``deadline``.

    Every sample must match the ones before it (the verification threshold): if someone
    else steps in, the capture starts again rather than mixing two people's faces. The
    pause between samples, with the prompt to move a little, gives slight pose variation
    when a person follows it; it is not enforced.
    """

    def __init__(
        self,
        needed: int,
        interval_s: float,
        rules: FaceRules,
        started_at: float,
        timeout_s: float,
        anchor: np.ndarray | None = None,
    ) -> None:
        """``anchor``: the embedding of the face a liveness challenge vouched for; every
        sample must then match it too."""
        self.anchor = None if anchor is None else np.asarray(anchor, dtype=np.float32)[None]
        self.needed = needed
        self.interval_s = interval_s
        self.rules = rules
        self.deadline = started_at + timeout_s
        self.samples: list[np.ndarray] = []  # the primary model's embeddings
        self.sample_sets: list[Embeddings] = []  # every model's, one set per sample
        self.yaws: list[float | None] = []
        self._last_at: float | None = None
        self.guidance: Text = N_("Look at the camera")
        self.restarts = 0

    @property
    def done(self) -> bool:
        return len(self.samples) >= self.needed

    @property
    def progress(self) -> tuple[int, int]:
        return len(self.samples), self.needed

    def expired(self, now: float) -> bool:
        return not self.done and now >= self.deadline

    def feed(self, observation: FaceObservation, now: float) -> None:
        if self.done:
            return
        problem = guidance_for(observation)
        if problem is not None:
            self.guidance = problem
            return
        assert observation.embedding is not None
        if self.anchor is not None and not self.rules.same_face(observation.embedding, self.anchor):
            self.guidance = SAME_PERSON
            return
        if self.samples and not self.rules.same_face(observation.embedding, np.stack(self.samples)):
            self.samples.clear()
            self.sample_sets.clear()
            self.yaws.clear()
            self.restarts += 1
            self.guidance = SAME_PERSON
            return
        if self._last_at is not None and now - self._last_at < self.interval_s:
            self.guidance = MOVE_SLIGHTLY if self.samples else HOLD
            return
        self.samples.append(np.asarray(observation.embedding, dtype=np.float32).copy())
        probe = self.rules.probe(observation.embedding, observation.embeddings)
        self.sample_sets.append({model: np.asarray(vector, dtype=np.float32).copy() for model, vector in probe.items()})
        self.yaws.append(observation.yaw_deg)
        self._last_at = now
        self.guidance = N_("Done") if self.done else MOVE_SLIGHTLY

    def wipe(self) -> None:
        self.samples.clear()
        self.sample_sets.clear()
        self.yaws.clear()
        self.anchor = None

"""Driving a challenge without a camera: replayed tracks and simulated people.

An *actor* gives the observation at time ``t``, knowing what the screen showed (the
challenge's last status). A replayed clip ignores the screen; a simulated responsive
person reacts to it. Tests and benchmarks run challenges through :func:`run_challenge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from kiosk.liveness.challenge import HEAD_PROMPTS, PROMPT, Challenge, ChallengeResult, Observation, Status


class Actor(Protocol):
    def observe(self, t: float, status: Status) -> Observation: ...


def run_challenge(challenge: Challenge, actor: Actor, fps: float, start: float = 0.0, max_s: float = 60.0) -> ChallengeResult:
    """Step a challenge at ``fps`` until it ends (or ``max_s``: then it is aborted)."""
    status = challenge.status()
    step = 1.0 / fps
    frame = 0
    while not status.done:
        t = start + frame * step
        if t - start > max_s:
            return_status = challenge.abort("timeout", t)
            assert return_status.done
            break
        status = challenge.update(actor.observe(t, status))
        frame += 1
    return challenge.result


@dataclass
class Track:
    """A recorded per-frame track (e.g. from a clip): times and measurements.

    ``embeddings[i]`` may be None (not computed on that frame)."""

    t: np.ndarray
    face: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    openness: np.ndarray
    embeddings: list[np.ndarray | None] = field(default_factory=list)
    other_faces: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.t)

    @property
    def duration(self) -> float:
        if len(self.t) < 2:
            return 0.0
        return float(self.t[-1] - self.t[0]) + float(np.median(np.diff(self.t)))

    def observation(self, index: int, t: float) -> Observation:
        embedding = self.embeddings[index] if self.embeddings else None
        return Observation(
            t=t,
            face=bool(self.face[index]),
            yaw=float(self.yaw[index]),
            pitch=float(self.pitch[index]),
            openness=float(self.openness[index]),
            embedding=embedding,
            other_faces=int(self.other_faces[index]) if self.other_faces is not None else 0,
            ref=index,
        )

    def index_at(self, clip_time: float) -> int:
        """The frame shown at ``clip_time`` seconds into the clip, looping."""
        duration = self.duration
        local = clip_time % duration if duration > 0 else 0.0
        return int(np.clip(np.searchsorted(self.t - self.t[0], local, side="right") - 1, 0, len(self.t) - 1))


class Replay:
    """A recorded clip played from ``offset`` seconds, looping, blind to the prompts
    (what an attacker holding up a video does)."""

    def __init__(self, track: Track, offset: float = 0.0) -> None:
        self.track = track
        self.offset = offset
        self._t0: float | None = None

    def observe(self, t: float, status: Status) -> Observation:
        if self._t0 is None:
            self._t0 = t
        index = self.track.index_at(self.offset + t - self._t0)
        return self.track.observation(index, t)


@dataclass
class Person:
    """A simulated responsive person with smooth, human-like answers.

    Head answers follow a minimum-jerk curve to ``turn_deg``/``look_up_deg`` in
    ``move_s``, hold ``hold_s``, and come back in ``move_s``; blinks close the eyes for
    ``blink_closed_s``, ``blink_gap_s`` apart. ``reaction_s`` is the time from the prompt
    appearing to the movement starting, counted from the frame after the challenge showed
    the prompt (one frame of display latency). ``embedding`` is who they are.
    """

    embedding: np.ndarray
    reaction_s: float = 0.35
    move_s: float = 0.35
    hold_s: float = 0.25
    turn_deg: float = 30.0
    look_up_deg: float = 20.0
    blink_closed_s: float = 0.12
    blink_gap_s: float = 0.25
    openness: float = 0.3
    identity_every_s: float = 0.5
    answers: dict[str, str] = field(default_factory=dict)  # prompt -> prompt actually done
    _prompt: str | None = None
    _started: float = 0.0
    _last_identity: float = -1e9
    _key: tuple[int, str] | None = None

    def _shape(self, x: float) -> float:
        x = min(max(x, 0.0), 1.0)
        return 10 * x**3 - 15 * x**4 + 6 * x**5

    def _head(self, elapsed: float, amplitude: float) -> float:
        if elapsed < 0:
            return 0.0
        if elapsed < self.move_s:
            return amplitude * self._shape(elapsed / self.move_s)
        back = elapsed - self.move_s - self.hold_s
        if back < 0:
            return amplitude
        return amplitude * (1.0 - self._shape(back / self.move_s))

    def _eyes(self, elapsed: float) -> float:
        for k in range(2):
            start = k * (self.blink_closed_s + self.blink_gap_s)
            if start <= elapsed < start + self.blink_closed_s:
                return self.openness * 0.2
        return self.openness

    def observe(self, t: float, status: Status) -> Observation:
        if status.phase == PROMPT and (status.index, status.prompt or "") != self._key:
            self._key = (status.index, status.prompt or "")
            self._prompt = self.answers.get(status.prompt or "", status.prompt)
            self._started = t
        yaw = pitch = 0.0
        openness = self.openness
        if self._prompt is not None:
            elapsed = t - self._started - self.reaction_s
            if self._prompt in HEAD_PROMPTS:
                axis, sign = HEAD_PROMPTS[self._prompt]
                amplitude = sign * (self.turn_deg if axis == "yaw" else self.look_up_deg)
                if axis == "yaw":
                    yaw = self._head(elapsed, amplitude)
                else:
                    pitch = self._head(elapsed, amplitude)
            elif self._prompt == "blink_twice":
                openness = self._eyes(elapsed)
        embedding = None
        if status.wants_identity or t - self._last_identity >= self.identity_every_s:
            embedding = self.embedding
            self._last_identity = t
        return Observation(t=t, yaw=yaw, pitch=pitch, openness=openness, embedding=embedding, ref=t)


class Swapped:
    """Another actor whose face becomes ``embedding`` from time ``at`` on."""

    def __init__(self, actor: Actor, embedding: np.ndarray, at: float) -> None:
        self.actor = actor
        self.embedding = embedding
        self.at = at

    def observe(self, t: float, status: Status) -> Observation:
        obs = self.actor.observe(t, status)
        if t >= self.at and obs.embedding is not None:
            obs = replace(obs, embedding=self.embedding)
        return obs


def min_jerk_onset(onset_deg: float, amplitude: float, move_s: float) -> float:
    """When a minimum-jerk movement of ``amplitude`` over ``move_s`` passes ``onset_deg``."""
    target = onset_deg / abs(amplitude)
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if 10 * mid**3 - 15 * mid**4 + 6 * mid**5 < target:
            low = mid
        else:
            high = mid
    return high * move_s


def euclidean(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


__all__ = [
    "Actor",
    "Person",
    "Replay",
    "Swapped",
    "Track",
    "euclidean",
    "min_jerk_onset",
    "run_challenge",
]

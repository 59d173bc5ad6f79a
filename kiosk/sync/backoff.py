"""Retry delays: exponential growth with random jitter, so a fleet that lost the server at
the same moment does not come back at the same moment."""

from __future__ import annotations

import random


class Backoff:
    """``delay()`` for the n-th consecutive failure: a random value in [d/2, d] where
    d = initial * 2**n, capped at ``maximum`` ("equal jitter": never shorter than half)."""

    def __init__(self, initial_s: float, maximum_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.rng = rng if rng is not None else random.Random()
        self.failures = 0

    def delay(self) -> float:
        ceiling = min(self.maximum_s, self.initial_s * 2.0 ** min(self.failures, 60))
        self.failures += 1
        return ceiling / 2.0 + self.rng.uniform(0.0, ceiling / 2.0)

    def reset(self) -> None:
        self.failures = 0

"""Retry delays: exponential growth with random jitter, so a fleet that lost the server (or
the kiosk's camera driver) at the same moment does not retry at the same moment.

One class for every retry loop in the kiosk: the sync engine (:mod:`kiosk.sync.engine`)
and the camera that reopens itself (:mod:`kiosk.camera.resilient`).
"""

from __future__ import annotations

import random

# "Equal jitter": never shorter than half the ceiling, so retries do not bunch near zero.
EQUAL_JITTER = (0.5, 1.0)


class Backoff:
    """``delay()`` for the n-th consecutive failure: the ceiling d = initial * 2**n, capped at
    ``maximum``, times a random factor, never above ``maximum``.

    The factor is drawn from [1/2, 1] by default ("equal jitter": a value in [d/2, d]);
    ``jitter=j`` draws it from [1 - j, 1 + j] instead (``jitter=0.0``: exactly d).
    ``reset()`` after a success starts again from ``initial``.
    """

    def __init__(
        self,
        initial_s: float,
        maximum_s: float,
        rng: random.Random | None = None,
        *,
        jitter: float | None = None,
    ) -> None:
        if jitter is not None and not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, not {jitter}")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.rng = rng if rng is not None else random.Random()
        self.factor = EQUAL_JITTER if jitter is None else (1.0 - jitter, 1.0 + jitter)
        self.failures = 0

    def delay(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        ceiling = min(self.maximum_s, self.initial_s * 2.0 ** min(self.failures, 60))
        self.failures += 1
        low, high = self.factor
        return min(self.maximum_s, ceiling * self.rng.uniform(low, high))

    def reset(self) -> None:
        self.failures = 0

"""Exponential reconnect backoff with jitter.

After a broker restart hundreds of nodes lose their link at the same instant; without jitter they
would all come back in the same second, again and again. Each delay is drawn uniformly from the
upper half of the exponential step ("equal jitter"), so nodes spread out but never retry hot.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    def __init__(self, *, initial_s: float = 1.0, max_s: float = 60.0, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        step = min(self.max_s, self.initial_s * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        return self._rng.uniform(step / 2, step)

    def reset(self) -> None:
        """After a successful connection the next failure starts from the short delay again."""
        self.attempt = 0

"""Calibration: a raw score becomes the tail probability of that score in the series' own history.

Raw scores mean different things on different series (a quantised counter, a noisy vibration RMS,
a bursty web metric); their own history says how rare one is. The history is a histogram over
log-spaced bins with exponential forgetting, so it follows a slowly changing series in constant
memory and constant time. Beyond the largest score seen, the tail is extrapolated as a power law so
that stronger events still rank higher.
"""

from __future__ import annotations

import math
from typing import Any

from analytics.anomaly._held import HeldBack, young_delay

__all__ = ["DelayedCalibrator", "TailCalibrator"]

_BINS = 96
_PER_OCTAVE = 8.0  # bin width: a factor of 2 ** (1/8) in (1 + raw)
_RESCALE = 1e12
_MIN_EXPONENT, _MAX_EXPONENT = 2.0, 8.0


def bin_of(raw: float) -> int:
    b = int(math.log2(1.0 + raw) * _PER_OCTAVE)
    return b if b < _BINS else _BINS - 1


class TailCalibrator:
    """P(history >= raw) from a forgetting histogram of past raw scores."""

    __slots__ = ("counts", "decay", "top", "total", "weight")

    def __init__(self, memory: int) -> None:
        self.decay = 1.0 / (1.0 - 1.0 / memory)  # the weight of a new count grows instead of old ones shrinking
        self.counts = [0.0] * _BINS
        self.weight = 1.0
        self.total = 0.0
        self.top = -1

    @property
    def effective(self) -> float:
        """How many observations the histogram holds, in units of the newest one."""
        return self.total / self.weight

    def tail(self, raw: float) -> float:
        """Probability that a past raw score was at least this large (never exactly 0)."""
        if self.total <= 0.0:
            return 1.0
        b = bin_of(raw)
        if b <= self.top:
            above = sum(self.counts[b + 1 : self.top + 1]) + 0.5 * self.counts[b]
            if above * 2.0 >= self.weight:  # at least half an ordinary observation's worth: trust it
                return above / self.total
        # Past everything seen (or only past alarms learned at a small weight): half an observation
        # at the highest bin that holds one, falling beyond it as a power law whose exponent the
        # octave below shows (light tails fall fast, heavy ones slowly).
        n = self.effective
        top = self._full_top()
        edge = 2.0 ** ((top + 1) / _PER_OCTAVE) - 1.0
        ratio = min(1.0, (1.0 + edge) / (1.0 + raw))
        return float(0.5 / (n + 1.0) * ratio ** self._exponent(top))

    def _full_top(self) -> int:
        """The highest bin with at least half an ordinary observation at or above it."""
        mass, half = 0.0, 0.5 * self.weight
        for b in range(self.top, -1, -1):
            mass += self.counts[b]
            if mass >= half:
                return b
        return 0

    def _exponent(self, top: int) -> float:
        """How fast the tail falls per doubling of (1 + raw) over the octave below `top`, in [2, 8]."""
        below = max(0, top - int(_PER_OCTAVE))
        upper = sum(self.counts[top : self.top + 1])
        lower = sum(self.counts[below : self.top + 1])
        if upper <= 0.0 or lower <= upper or below == top:
            return _MIN_EXPONENT
        alpha = math.log2(lower / upper) / ((top - below) / _PER_OCTAVE)
        return min(_MAX_EXPONENT, max(_MIN_EXPONENT, alpha))

    def learn(self, raw: float, share: float = 1.0) -> None:
        b = bin_of(raw)
        self.weight *= self.decay
        w = self.weight * share
        self.counts[b] += w
        self.total += w
        if b > self.top:
            self.top = b
        if self.weight > _RESCALE:
            self.counts = [c / self.weight for c in self.counts]
            self.total /= self.weight
            self.weight = 1.0

    def state(self) -> dict[str, Any]:
        scale = 1.0 / self.weight
        return {"counts": [c * scale for c in self.counts[: self.top + 1]]}

    def restore(self, state: dict[str, Any]) -> None:
        counts = [float(c) for c in state["counts"]][:_BINS]
        self.counts = counts + [0.0] * (_BINS - len(counts))
        self.weight = 1.0
        self.total = sum(self.counts)
        self.top = max((i for i, c in enumerate(self.counts) if c > 0), default=-1)


class DelayedCalibrator:
    """A `TailCalibrator` that learns each raw score `delay` readings late (`HeldBack`).

    An incident often ramps up: a party's noise climbs over a quarter of an hour, each minute a
    little louder than the last. Learned at once, each reading raised the tail that the next one
    was judged against, so the climb never looked rare and was learned in full, which made every
    later event of its size look ordinary.
    """

    __slots__ = ("cal", "delay", "grown", "pending")

    def __init__(self, memory: int, delay: int) -> None:
        self.cal = TailCalibrator(memory)
        self.delay = delay
        self.pending = HeldBack()  # [weight, raw] of the readings not yet learned
        self.grown = False  # old enough to hold back `delay` readings (it only grows older)

    @property
    def effective(self) -> float:
        return self.cal.effective

    def tail(self, raw: float) -> float:
        return self.cal.tail(raw)

    def push(self, raw: float) -> None:
        """Queue a raw score at full weight; the oldest, once `delay` readings old, is learned."""
        delay = self.delay
        if not self.grown:
            delay = young_delay(delay, self.cal.effective)
            self.grown = delay >= self.delay
        for weight, old in self.pending.add([1.0, raw], delay):
            self.cal.learn(old, weight)

    def incident(self, weight: float) -> None:
        """The readings still queued belong to a lasting alarm: learn them at no more than `weight`."""
        self.pending.incident(weight)

    def state(self) -> dict[str, Any]:
        pending = self.pending
        return {**self.cal.state(), "pending": [[raw, weight] for weight, raw in pending.items], "fresh": pending.fresh}

    def restore(self, state: dict[str, Any]) -> None:
        """Also reads a plain `TailCalibrator`'s state (nothing queued)."""
        self.cal.restore(state)
        fresh = state.get("fresh")
        self.pending = HeldBack(([float(w), float(r)] for r, w in state.get("pending", ())), fresh=fresh)
        self.grown = young_delay(self.delay, self.cal.effective) >= self.delay

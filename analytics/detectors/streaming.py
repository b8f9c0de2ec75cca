"""Streaming per-series detectors: seasonal baseline, level shift, rate of change.

All three are cheap (a few microseconds a reading) because the scoring path of the whole city
runs through them; none keeps more than a bounded window.
"""

from __future__ import annotations

import math
from collections import deque

from analytics.localtime import DEFAULT_TIMEZONE, LocalClock
from citysense.wire import Reading

__all__ = ["LevelShift", "RateOfChange", "SeasonalBaseline", "season_of"]

_MAD_TO_SIGMA = 1.4826


def season_of(time_ms: int, clock: LocalClock) -> int:
    """0..47: local hour of day, on weekdays (0..23) or at the weekend (24..47)."""
    how = clock.hour_of_week(time_ms / 1000)
    return how % 24 + (24 if how >= 120 else 0)  # hours of the week from Saturday 00:00 on


class _Bucket:
    """A bounded window of values with its median and MAD, refreshed every few new values."""

    __slots__ = ("dirty", "mad", "median", "values")

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)
        self.median = 0.0
        self.mad = 0.0
        self.dirty = 0

    def add(self, value: float, refresh_every: int) -> None:
        self.values.append(value)
        self.dirty += 1
        if self.dirty >= refresh_every or len(self.values) <= refresh_every:
            ordered = sorted(self.values)
            n = len(ordered)
            self.median = 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])
            deviations = sorted(abs(v - self.median) for v in ordered)
            self.mad = 0.5 * (deviations[(n - 1) // 2] + deviations[n // 2])
            self.dirty = 0


class SeasonalBaseline:
    """How far a reading is from what this series usually reads at this hour, weekday or weekend.

    A robust baseline per (hour of day, weekday/weekend) bucket: the median and MAD of its last
    `window` values. The score is the distance from the median in robust standard deviations,
    divided by `k`, so a score of 1 is `k` sigmas. `floor` is the smallest spread believed (the
    sensor's resolution), so a series that is flat at night does not alarm on one rounding step.
    Until a bucket has `min_samples` values it scores 0: it does not know yet.
    """

    name = "seasonal"

    def __init__(
        self,
        *,
        k: float = 6.0,
        floor: float = 0.1,
        window: int = 120,
        min_samples: int = 20,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        if k <= 0 or floor <= 0 or window < 4 or min_samples < 3:
            raise ValueError("SeasonalBaseline needs k > 0, floor > 0, window >= 4 and min_samples >= 3")
        self.k = k
        self.floor = floor
        self.window = window
        self.min_samples = min_samples
        self.clock = LocalClock(timezone)
        self._buckets: dict[int, _Bucket] = {}

    def learn_one(self, x: Reading) -> None:
        self.update(x)

    def update(self, x: Reading) -> float:
        """`score_one` then `learn_one` in one pass (the engine's hot path): the score before learning."""
        season = season_of(x.time_ms, self.clock)
        bucket = self._buckets.get(season)
        if bucket is None:
            bucket = self._buckets[season] = _Bucket(self.window)
        score = 0.0
        if len(bucket.values) >= self.min_samples:
            sigma = max(_MAD_TO_SIGMA * bucket.mad, self.floor)
            score = abs(x.value - bucket.median) / (sigma * self.k)
        bucket.add(x.value, max(1, self.window // 8))
        return score

    def expected(self, time_ms: int) -> tuple[float, float] | None:
        """(median, robust sigma) for this time, or None while the bucket is still learning."""
        bucket = self._buckets.get(season_of(time_ms, self.clock))
        if bucket is None or len(bucket.values) < self.min_samples:
            return None
        return bucket.median, max(_MAD_TO_SIGMA * bucket.mad, self.floor)

    def score_one(self, x: Reading) -> float:
        expected = self.expected(x.time_ms)
        if expected is None:
            return 0.0
        median, sigma = expected
        return abs(x.value - median) / (sigma * self.k)


class LevelShift:
    """A two-sided CUSUM on standardised values: a sustained move up or down, not a single outlier.

    The mean and spread are exponentially weighted with `alpha` (slow, so a shift shows before it
    is learned as normal); each value adds its z-score minus the slack `drift` to the upward or
    downward sum, and a sum above `h` is a level shift (score 1). Single values are clipped to
    `clip` sigmas so one spike cannot fake a shift.
    """

    name = "level_shift"

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        drift: float = 1.0,
        h: float = 12.0,
        clip: float = 4.0,
        floor: float = 0.1,
        min_samples: int = 30,
    ) -> None:
        if not 0 < alpha < 1 or h <= 0 or drift < 0 or floor <= 0:
            raise ValueError("LevelShift needs 0 < alpha < 1, h > 0, drift >= 0, floor > 0")
        self.alpha, self.drift, self.h, self.clip, self.floor = alpha, drift, h, clip, floor
        self.min_samples = min_samples
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.up = 0.0
        self.down = 0.0

    def _z(self, value: float) -> float:
        sigma = max(math.sqrt(self.var), self.floor)
        return max(-self.clip, min(self.clip, (value - self.mean) / sigma))

    def _sums(self, value: float) -> tuple[float, float]:
        z = self._z(value)
        # Capped at 2h: after a shift ends the alarm clears within a few readings, not never.
        cap = 2 * self.h
        return min(cap, max(0.0, self.up + z - self.drift)), min(cap, max(0.0, self.down - z - self.drift))

    def learn_one(self, x: Reading) -> None:
        self.update(x)

    def update(self, x: Reading) -> float:
        """`score_one` then `learn_one` in one pass (the engine's hot path): the score before learning."""
        self.n += 1
        if self.n == 1:
            self.mean = x.value
            return 0.0
        score = 0.0
        if self.n > self.min_samples:
            self.up, self.down = self._sums(x.value)
            if self.n > self.min_samples + 1:  # score_one scores once min_samples were learned before x
                score = max(self.up, self.down) / self.h
        delta = x.value - self.mean
        self.mean += self.alpha * delta
        self.var = (1 - self.alpha) * (self.var + self.alpha * delta * delta)
        return score

    def score_one(self, x: Reading) -> float:
        if self.n <= self.min_samples:
            return 0.0
        up, down = self._sums(x.value)
        return max(up, down) / self.h


class RateOfChange:
    """How fast a series moves now against how fast it usually moves (per minute, robustly).

    The typical absolute rate is an exponentially weighted mean of past rates; a rate `k` times
    the typical one (and above `floor` per minute) scores 1.
    """

    name = "rate_of_change"

    def __init__(self, *, k: float = 10.0, floor: float = 0.05, alpha: float = 0.02, min_samples: int = 20) -> None:
        if k <= 0 or floor <= 0 or not 0 < alpha < 1:
            raise ValueError("RateOfChange needs k > 0, floor > 0 and 0 < alpha < 1")
        self.k, self.floor, self.alpha, self.min_samples = k, floor, alpha, min_samples
        self.n = 0
        self.last: Reading | None = None
        self.typical = 0.0

    def _rate(self, x: Reading) -> float | None:
        if self.last is None or x.time_ms <= self.last.time_ms:
            return None
        minutes = max((x.time_ms - self.last.time_ms) / 60_000, 1 / 60)
        return abs(x.value - self.last.value) / minutes

    def learn_one(self, x: Reading) -> None:
        self.update(x)

    def update(self, x: Reading) -> float:
        """`score_one` then `learn_one` in one pass (the engine's hot path): the score before learning."""
        rate = self._rate(x)
        score = 0.0
        if rate is not None:
            if self.n >= self.min_samples:
                score = rate / (self.k * max(self.typical, self.floor))
            self.n += 1
            self.typical = rate if self.n == 1 else self.typical + self.alpha * (rate - self.typical)
        if self.last is None or x.time_ms > self.last.time_ms:
            self.last = x
        return score

    def score_one(self, x: Reading) -> float:
        rate = self._rate(x)
        if rate is None or self.n < self.min_samples:
            return 0.0
        return rate / (self.k * max(self.typical, self.floor))

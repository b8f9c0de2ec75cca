"""Short-horizon forecasts: when will this series cross its threshold, at the current trend?

A least-squares line through the last `window_s` of readings gives the trend; extrapolating it
gives the time until `threshold`. Good enough for the next half hour of a rising river or a
filling bin, and cheap: the sums are kept incrementally.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from citysense.wire import Reading

__all__ = ["Forecast", "TrendForecast"]


@dataclass(frozen=True, slots=True)
class Forecast:
    """The fitted level now, its slope (units per hour) and the seconds until the threshold (inf: never)."""

    level: float
    slope_per_h: float
    eta_s: float
    threshold: float


class TrendForecast:
    """Scores how soon the threshold will be crossed: `horizon_s / eta`, so 1 = within the horizon.

    Only a rising trend (at least `min_slope_per_h`) from a level already at `min_fraction` of the
    threshold counts, so a slow drift far below the threshold forecasts nothing. Above the
    threshold the forecast has come true: the rule says so, the forecast scores 0.
    """

    name = "forecast"

    def __init__(
        self,
        *,
        threshold: float,
        horizon_s: float = 1800.0,
        window_s: float = 1800.0,
        min_points: int = 8,
        min_fraction: float = 0.6,
        min_slope_per_h: float = 0.0,
    ) -> None:
        if horizon_s <= 0 or window_s <= 0 or min_points < 3 or not 0 <= min_fraction <= 1:
            raise ValueError("TrendForecast needs horizon_s > 0, window_s > 0, min_points >= 3, 0 <= min_fraction <= 1")
        self.threshold, self.horizon_s, self.window_ms = threshold, horizon_s, window_s * 1000
        self.min_points, self.min_fraction, self.min_slope = min_points, min_fraction, min_slope_per_h
        self.points: deque[tuple[float, float]] = deque()
        self._t0 = 0
        self._sums = [0.0, 0.0, 0.0, 0.0]  # t, v, t*t, t*v (t in hours since _t0)

    def _add(self, t: float, v: float, sign: float) -> None:
        s = self._sums
        s[0] += sign * t
        s[1] += sign * v
        s[2] += sign * t * t
        s[3] += sign * t * v

    def learn_one(self, x: Reading) -> None:
        if self.points and x.time_ms <= self._t0 + self.points[-1][0] * 3_600_000:
            return  # out of order or repeated: the line is fitted on time order
        if not self.points:
            self._t0 = x.time_ms
            self._sums = [0.0, 0.0, 0.0, 0.0]
        t = (x.time_ms - self._t0) / 3_600_000
        self.points.append((t, x.value))
        self._add(t, x.value, 1.0)
        horizon = t - self.window_ms / 3_600_000
        while self.points and self.points[0][0] < horizon:
            old_t, old_v = self.points.popleft()
            self._add(old_t, old_v, -1.0)

    def forecast(self, x: Reading | None = None) -> Forecast | None:
        """The forecast after the learned points (and `x`, if given, without learning it)."""
        n = len(self.points)
        s = list(self._sums)
        t_now = self.points[-1][0] if self.points else 0.0
        if x is not None and self.points:
            t = (x.time_ms - self._t0) / 3_600_000
            if t > t_now:
                n += 1
                s = [s[0] + t, s[1] + x.value, s[2] + t * t, s[3] + t * x.value]
                t_now = t
        if n < self.min_points:
            return None
        denominator = n * s[2] - s[0] * s[0]
        if denominator <= 1e-12:
            return None
        slope = (n * s[3] - s[0] * s[1]) / denominator
        level = (s[1] - slope * s[0]) / n + slope * t_now
        if level >= self.threshold:
            eta = 0.0
        elif slope <= 0:
            eta = math.inf
        else:
            eta = (self.threshold - level) / slope * 3600
        return Forecast(level, slope, eta, self.threshold)

    def score_one(self, x: Reading) -> float:
        f = self.forecast(x)
        if f is None or f.eta_s == 0.0 or math.isinf(f.eta_s):
            return 0.0
        if f.slope_per_h < self.min_slope or f.level < self.min_fraction * self.threshold:
            return 0.0
        return min(self.horizon_s / f.eta_s, 100.0)

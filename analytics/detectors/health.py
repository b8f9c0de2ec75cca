"""Device health: stuck values, physically implausible jumps, silence, clock skew, drift against neighbours.

These say a *device* is wrong, not the city: their findings become `device_fault` tickets for
the device, and the readings they flag are kept out of the incident rules and out of learning.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from citysense.wire import Reading

__all__ = ["ClockCheck", "DryWeatherShift", "ImplausibleJump", "NeighbourDrift", "SilenceWatch", "StuckValue"]


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return 0.5 * (ordered[(n - 1) // 2] + ordered[n // 2])


class StuckValue:
    """A value repeated far more often in a row than this series repeats that value by chance.

    It learns, per value, how often a reading equals the one before (smoothed towards the series'
    overall repeat rate), and scores a run of `L` equal values as `L * ln(1/p) / ln(1/alpha)`, with
    `p` as it was when the run began (so a stuck run does not teach itself to be normal): a score
    of 1 is a run with chance below `alpha`. Values a series sits on for hours by nature (a dry rain
    gauge at 0, a lamp's standby power by day) earn long allowances from history, and runs shorter
    than `min_run_s` are discounted in proportion (chance repeats are short). Values at the
    sensor's range limits (`saturated`, e.g. 100 %RH in rain) are never called stuck, and nothing is
    scored before `min_history_s` of history.
    """

    name = "stuck"

    def __init__(
        self,
        *,
        alpha: float = 1e-12,
        min_history_s: float = 86_400.0,
        prior: float = 5.0,
        max_p: float = 0.999,
        saturated: tuple[float, ...] = (),
        max_values: int = 512,
        min_run_s: float = 3600.0,
    ) -> None:
        if not 0 < alpha < 1 or not 0 < max_p < 1 or prior <= 0:
            raise ValueError("StuckValue needs 0 < alpha < 1, 0 < max_p < 1 and prior > 0")
        self.alpha, self.min_history_ms, self.prior, self.max_p = alpha, min_history_s * 1000, prior, max_p
        self.saturated = frozenset(saturated)
        self.max_values = max_values
        self.min_run_ms = min_run_s * 1000
        self.run_start_ms = 0
        self._log_alpha = math.log(1 / alpha)
        self.first_ms: int | None = None
        self.last: float | None = None
        self.last_ms = 0
        self.run = 0
        self.run_p = 0.5
        self.repeats = 0
        self.transitions = 0
        self.by_value: dict[float, list[int]] = {}

    def p_of(self, value: float) -> float:
        overall = (self.repeats + 1) / (self.transitions + 2)
        counts = self.by_value.get(value)
        if counts is None:
            return min(self.max_p, overall)
        return min(self.max_p, (counts[0] + self.prior * overall) / (counts[1] + self.prior))

    def learn_one(self, x: Reading) -> None:
        if self.first_ms is None:
            self.first_ms = x.time_ms
        if self.last is not None:
            same = x.value == self.last
            self.transitions += 1
            self.repeats += same
            counts = self.by_value.get(self.last)
            if counts is None and len(self.by_value) < self.max_values:
                counts = self.by_value[self.last] = [0, 0]
            if counts is not None:
                counts[0] += same
                counts[1] += 1
            if same:
                self.run += 1
            else:
                self.run = 1
                self.run_p = self.p_of(x.value)
                self.run_start_ms = x.time_ms
        else:
            self.run = 1
            self.run_p = self.p_of(x.value)
            self.run_start_ms = x.time_ms
        self.last = x.value
        self.last_ms = x.time_ms

    def score_one(self, x: Reading) -> float:
        if self.first_ms is None or x.time_ms - self.first_ms < self.min_history_ms or x.value in self.saturated:
            return 0.0
        if x.value != self.last:
            return 0.0  # a new value starts a run of one: nothing is stuck
        # A run shorter than `min_run_s` is discounted: sensors stick for hours, chance repeats are short.
        lasted = min(1.0, (x.time_ms - self.run_start_ms) / self.min_run_ms) if self.min_run_ms > 0 else 1.0
        return (self.run + 1) * math.log(1 / self.run_p) / self._log_alpha * lasted


class ImplausibleJump:
    """A value that leaves the recent level by more than the physics of the quantity allows.

    The reference is the median of the last accepted values; the allowed step is the larger of
    `max_step` (what the quantity can plausibly do between two readings) and `k` robust sigmas
    of the recent values. Values above `ceiling` are implausible whatever came before. A jumped
    value is not learned, unless `accept_after` jumps come in a row: then the level really moved
    (a fast flood in a demo) and the window restarts from the new values. `up_only` suits
    quantities that legitimately fall at once (a bin being emptied).
    """

    name = "implausible_jump"

    def __init__(
        self,
        *,
        max_step: float,
        k: float = 8.0,
        ceiling: float = math.inf,
        up_only: bool = False,
        accept_after: int = 3,
        window: int = 15,
        min_samples: int = 5,
    ) -> None:
        if max_step <= 0 or k <= 0 or accept_after < 1 or window < 3:
            raise ValueError("ImplausibleJump needs max_step > 0, k > 0, accept_after >= 1, window >= 3")
        self.max_step, self.k, self.ceiling, self.up_only = max_step, k, ceiling, up_only
        self.accept_after, self.min_samples = accept_after, min_samples
        self.window: deque[float] = deque(maxlen=window)
        self.rejected: list[float] = []
        self._level = 0.0
        self._spread = 0.0
        self._learned = 0

    def _refresh(self) -> None:
        recent = list(self.window)
        self._level = _median(recent[-5:])
        self._learned += 1
        if self._learned % 5 == 1 or len(recent) < self.window.maxlen:  # type: ignore[operator]
            centre = _median(recent)
            self._spread = 1.4826 * _median([abs(v - centre) for v in recent])

    def score_one(self, x: Reading) -> float:
        if x.value > self.ceiling:
            return 1.0 + (x.value - self.ceiling) / max(abs(self.ceiling), 1.0)
        if len(self.window) < self.min_samples:
            return 0.0
        step = x.value - self._level
        if self.up_only and step < 0:
            return 0.0
        return abs(step) / max(self.max_step, self.k * self._spread)

    def learn_one(self, x: Reading) -> None:
        self.update(x)

    def update(self, x: Reading) -> float:
        """`score_one` then `learn_one` in one pass (the engine's hot path): the score before learning."""
        score = self.score_one(x)
        if score >= 1.0:
            self.rejected.append(x.value)
            if len(self.rejected) < self.accept_after:
                return score
            self.window.clear()
            self.window.extend(self.rejected)
        else:
            self.window.append(x.value)
        if self.rejected:
            self.rejected = []
        self._refresh()
        return score


class SilenceWatch:
    """A device that stopped reporting: no reading for `factor` times its usual interval.

    The usual interval is the median of its recent gaps; `min_gap_s` keeps fast reporters from
    alarming on a short network hiccup. `score_one` scores a reading by the gap before it (late
    readings), `silent()` lists devices overdue now.
    """

    name = "silence"

    def __init__(self, *, factor: float = 6.0, min_gap_s: float = 900.0, min_samples: int = 5) -> None:
        if factor <= 1 or min_gap_s <= 0:
            raise ValueError("SilenceWatch needs factor > 1 and min_gap_s > 0")
        self.factor, self.min_gap_ms, self.min_samples = factor, min_gap_s * 1000, min_samples
        self.last_ms: dict[str, int] = {}
        self.gaps: dict[str, deque[int]] = {}
        self.usual_ms: dict[str, float] = {}
        self._seen: dict[str, int] = {}

    def learn_one(self, x: Reading) -> None:
        last = self.last_ms.get(x.device_id)
        if last is not None and x.time_ms <= last:
            return  # another quantity of the same pack, or a late reading
        if last is not None:
            gaps = self.gaps.setdefault(x.device_id, deque(maxlen=16))
            gaps.append(x.time_ms - last)
            seen = self._seen[x.device_id] = self._seen.get(x.device_id, 0) + 1
            # The usual interval changes rarely: recompute it every 16 gaps once it is known.
            if len(gaps) >= self.min_samples and (len(gaps) < 16 or seen % 16 == 0):
                self.usual_ms[x.device_id] = _median([float(g) for g in gaps])
        self.last_ms[x.device_id] = x.time_ms

    def limit_ms(self, device_id: str) -> float | None:
        usual = self.usual_ms.get(device_id)
        return None if usual is None else max(self.factor * usual, self.min_gap_ms)

    def score_one(self, x: Reading) -> float:
        last, limit = self.last_ms.get(x.device_id), self.limit_ms(x.device_id)
        if last is None or limit is None or x.time_ms <= last:
            return 0.0
        return (x.time_ms - last) / limit

    def silent(self, now_ms: int) -> list[tuple[str, int]]:
        """(device, milliseconds since its last reading) of every device overdue at `now_ms`."""
        overdue = []
        for device_id, last in self.last_ms.items():
            limit = self.limit_ms(device_id)
            if limit is not None and now_ms - last > limit:
                overdue.append((device_id, now_ms - last))
        return overdue

    def restart(self, now_ms: int) -> None:
        """Start every device's silence clock at `now_ms` (after warm-up from history): a whole fleet
        that was quiet while analytics was down is not reported at once, but a device that stays
        quiet for its limit after the restart is."""
        for device_id, last in self.last_ms.items():
            self.last_ms[device_id] = max(last, now_ms)

    def forget(self, device_id: str) -> None:
        """Stop watching a device (decommissioned, or already reported and not yet back)."""
        self.last_ms.pop(device_id, None)


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """A device clock off from the receiver's by more than `tolerance_s` (score 1 at the tolerance).

    Not a learning detector: it needs the time the reading arrived, which only the receiver knows.
    """

    tolerance_s: float = 90.0
    name: str = "clock_skew"

    def score(self, x: Reading, received_ms: int) -> float:
        return abs(x.time_ms - received_ms) / (self.tolerance_s * 1000)


class _Residuals:
    __slots__ = ("baseline", "fast", "n", "scale")

    def __init__(self) -> None:
        self.n = 0
        self.baseline = 0.0
        self.fast = 0.0
        self.scale = 0.0


class NeighbourDrift:
    """A device slowly leaving its neighbours (same kind, same quantity, nearby): calibration drift.

    The residual is the device's value minus the median of its neighbours' fresh values, relative
    to that median (plus `floor`). Each device's usual residual (its calibration offset) and its
    spread are learned slowly; the score is how far a faster average of the residual has moved from
    the usual one, in units of `k` spreads. A city-wide event (a storm, a smog day) moves everyone
    and leaves residuals alone; a drifting device moves alone. The usual residual stops learning
    while a device looks drifted, so a drift is not learned away.
    """

    name = "neighbour_drift"

    def __init__(
        self,
        *,
        k: float = 4.0,
        floor: float = 1.0,
        fresh_s: float = 300.0,
        slow: float = 0.0005,
        fast: float = 0.03,
        min_samples: int = 240,
        min_neighbours: int = 2,
        min_scale: float = 0.02,
    ) -> None:
        if k <= 0 or floor <= 0 or not 0 < slow < fast < 1:
            raise ValueError("NeighbourDrift needs k > 0, floor > 0 and 0 < slow < fast < 1")
        self.k, self.floor, self.fresh_ms = k, floor, fresh_s * 1000
        self.slow, self.fast, self.min_samples, self.min_neighbours = slow, fast, min_samples, min_neighbours
        self.min_scale = min_scale
        self.latest: dict[str, tuple[int, float]] = {}
        self.state: dict[str, _Residuals] = {}
        self._centre_ms: int | None = None
        self._centre_value: float | None = None

    def _centre(self, x: Reading) -> float | None:
        """The median of the group's fresh values, recomputed once per reporting round."""
        if self._centre_ms is not None and abs(x.time_ms - self._centre_ms) < self.fresh_ms / 10:
            return self._centre_value
        fresh = [value for time_ms, value in self.latest.values() if abs(time_ms - x.time_ms) <= self.fresh_ms]
        self._centre_ms = x.time_ms
        self._centre_value = _median(fresh) if len(fresh) > self.min_neighbours else None
        return self._centre_value

    def _residual(self, x: Reading) -> float | None:
        centre = self._centre(x)
        if centre is None:
            return None
        return (x.value - centre) / (abs(centre) + self.floor)

    def _score(self, s: _Residuals, fast: float) -> float:
        return abs(fast - s.baseline) / (self.k * max(s.scale, self.min_scale))

    def learn_one(self, x: Reading) -> None:
        self.update(x)

    def update(self, x: Reading) -> float:
        """`score_one` then `learn_one` in one pass (the engine's hot path): the score before learning."""
        r = self._residual(x)
        self.latest[x.device_id] = (x.time_ms, x.value)
        if r is None:
            return 0.0
        s = self.state.get(x.device_id)
        if s is None:
            s = self.state[x.device_id] = _Residuals()
            s.baseline = s.fast = r
        score = 0.0 if s.n < self.min_samples else self._score(s, s.fast + self.fast * (r - s.fast))
        s.n += 1
        s.fast += self.fast * (r - s.fast)
        if s.n < self.min_samples or self._score(s, s.fast) < 0.5:
            rate = max(self.slow, 1 / s.n)
            s.scale += rate * (abs(r - s.baseline) - s.scale)
            s.baseline += rate * (r - s.baseline)
        return score

    def score_one(self, x: Reading) -> float:
        s = self.state.get(x.device_id)
        if s is None or s.n < self.min_samples:
            return 0.0
        r = self._residual(x)
        if r is None:
            return 0.0
        return self._score(s, s.fast + self.fast * (r - s.fast))


class DryWeatherShift:
    """A water gauge moving away from its dry-weather level while its district has had no rain.

    Water rises after rain; in dry weather a river or drain sits near its base level. Gauges cannot
    be compared with their neighbours (a river and a drain answer a storm differently), but each
    can be compared with itself in dry weather. The base level is the median of dry-weather values,
    one in `every` of them kept over a long window so that a slow drift is not learned as the new
    normal; the score is the distance from it in units of `k` robust sigmas (at least `floor`).
    It only scores when the caller says the district is dry.
    """

    name = "dry_weather_shift"

    def __init__(
        self, *, k: float = 4.0, floor: float = 0.05, window: int = 720, every: int = 10, min_samples: int = 72
    ) -> None:
        if k <= 0 or floor <= 0 or window < min_samples or every < 1:
            raise ValueError("DryWeatherShift needs k > 0, floor > 0, window >= min_samples and every >= 1")
        self.k, self.floor, self.every, self.min_samples = k, floor, every, min_samples
        self.values: deque[float] = deque(maxlen=window)
        self.seen = 0
        self.median = 0.0
        self.sigma = floor

    def update(self, x: Reading, *, dry: bool) -> float:
        """Score (before learning) a reading taken in dry weather; 0 for a wet district."""
        if not dry:
            return 0.0
        score = 0.0
        if len(self.values) >= self.min_samples:
            score = abs(x.value - self.median) / (self.k * self.sigma)
        self.seen += 1
        if score < 0.5 and self.seen % self.every == 0:
            self.values.append(x.value)
            if len(self.values) >= self.min_samples and len(self.values) % 6 == 0:
                ordered = list(self.values)
                self.median = _median(ordered)
                self.sigma = max(1.4826 * _median([abs(v - self.median) for v in ordered]), self.floor)
        return score

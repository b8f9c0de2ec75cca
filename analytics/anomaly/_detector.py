"""The general streaming detector: several unit-free views of each channel, one calibrated score.

Per channel (one number of a reading), after removing a daily or weekly cycle when the data has one:
- **shift**: a fast running mean against the slow one, in units of how much that difference
  itself usually wanders (so autocorrelated noise, trends and quantisation are all measured
  against their own normal, not against a sampling interval or a unit);
- **point**: the newest value against the fast mean, in units of its usual one-step error;
- **volatility**: a fast mean of the squared steps between readings over their usual size (a level
  that starts swinging keeps its mean);
- **hour of day** (with a cycle in use): the departure from the expected value in this hour's own
  usual spread;
- **run** (with a cycle in use, and only when asked: `run_view`): a fast mean over a few readings of
  the signed departures in that same spread, so an hour at three spreads is rarer than any one
  reading at three.
Each view's raw score becomes its tail probability in its own history (`TailCalibrator`, the shift,
volatility and hour views' learning late: `DelayedCalibrator`); the rarest, times the number of
views, is mapped so that a tail probability equal to the alarm budget scores 0.5. Alarms teach
the baselines little at first and fully once they have lasted as long as the memory: a short
incident stays visible, a lasting new normal is absorbed. The hour's spread and the cycle learn a
reading late too (`HeldBack`), so the climb to an alarm is learned as the alarm's, not absorbed
before it comes.

One more view, **change**, marks the moments the series changes: a two-sided CUSUM per channel of
the value against the mean of the current segment (everything since the last change), in units of
that residual's usual spread. When one channel's sum passes `change` the segment ends there, every
channel starts a new one, and the alarm *turns on* at that reading, even when it was already on (it
is re-armed: the reading before scores just under 0.5). So each change, the return to normal
included, is one alarm onset a consumer can count, while the views above keep the alarm on for as
long as the series stays away from its long-run normal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from analytics.anomaly._calibrate import DelayedCalibrator, TailCalibrator
from analytics.anomaly._held import HeldBack, young_delay
from analytics.anomaly._packed import unpack_state
from analytics.anomaly._season import Seasons
from analytics.localtime import DEFAULT_TIMEZONE, LocalClock

__all__ = ["Detector", "Expected"]

STATE_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)  # version 1 had no change view: it starts fresh from the restored level
_TINY = 1e-12
_HOLD_AFTER = 3
_ALARM_SHARE = 5.0  # a lasting alarm teaches what learns late (calibrators, spreads, cycle) this many budgets
_POINT_ALARM_SHARE = 1.0  # recurring outliers are a bursty series' normal: learned in full
_ALLOWANCE = 1.0  # CUSUM drift allowance, in residual sigmas: shifts smaller than this never add up
_CLIP = 4.0  # a reading adds at most this many sigmas: a change takes several readings
_SEGMENT = 100  # a new segment's mean settles over about this many readings
_MAX_MEMORYFUL = 100.0
_REARM = 0.49  # the score of the reading that re-arms an alarm already on (an onset follows)
# The hour-of-day view (`_hourly`).
_HOURLY = ("hv", "hn")  # its per-hour state in a channel
_OBJECTS = ("season", "held")  # a channel's slots saved and restored on their own
_HOUR_VISITS = 7.0  # visits (days) an hour's spread remembers
_HOUR_CLIP = 25.0  # a reading adds at most this many times the hour's usual squared departure
_HOUR_DAYS = 3  # days an hour of the day was seen on before its own spread is believed
_HOUR_READINGS = 10  # and readings
# The run view (`run_view`): a fast mean over about this many readings of the signed departures in
# their hour's spread, each clipped to this many spreads (one wild reading is a point, not a run).
_RUN_SPAN = 4
_RUN_FAST = 2.0 / (_RUN_SPAN + 1.0)
_RUN_CLIP = 6.0
_VOL_CLIP = 25.0  # one reading adds at most this many usual squared errors to the volatility view
_SHORT = 3  # readings: an alarm this short is normal data's rare moment, not an incident
# A calibrator remembers at least this many times 1/budget readings (and 4 x memory): one that has
# seen fewer cannot tell a tail as thin as the budget from the rarest reading it happens to hold.
_TAIL_BUDGETS = 2.0
# A budget per interval scales a series' per-reading budget by at most this ratio either way, and
# to no more than this fraction of its readings.
_MAX_BUDGET_RATIO = 100.0
_MAX_BUDGET = 0.01
# The arithmetic's range: readings beyond +-_LIMIT count as +-_LIMIT (their squares, summed over a
# memory, must stay finite), no resolution is believed finer than _FINEST (its square, the smallest
# variance, must not round to zero), and a raw score is at most _MAX_RAW (a saved state holds no
# infinity). No sensor reads near either end; a quantity registered without bounds could.
_LIMIT = 1e100
_FINEST = 1e-150
_MAX_RAW = 1e100
_EARLIEST, _LATEST = -62104060800.0, 253370764799.0  # epoch seconds of 0002-01-01 and 9998-12-31 23:59:59 UTC


def _floor(ch: _Channel) -> float:
    """The smallest variance believed: a quantisation step's, or a hair of the level on a flat series."""
    return ch.res * ch.res / 12.0 if ch.res < math.inf else _TINY * (abs(ch.mean) + _TINY) ** 2


def _middle(a: float, b: float, c: float) -> float:
    """The median of three."""
    return max(min(a, b), min(max(a, b), c))


class _Channel:
    __slots__ = (
        "dm",
        "dv",
        "ev",
        "fast",
        "gn",
        "gp",
        "held",
        "hn",
        "hs",
        "hv",
        "last",
        "mean",
        "n",
        "peak",
        "qv",
        "r1",
        "r2",
        "res",
        "season",
        "seg",
        "slope",
        "sv",
        "tolerance",
        "var",
        "vol",
    )

    def __init__(self, x: float) -> None:
        self.n = 0
        self.mean = x
        self.var = 0.0
        self.fast = x
        self.dm = 0.0
        self.dv = 0.0
        self.ev = 0.0
        self.last = x
        self.res = math.inf  # the smallest step seen: the series' own resolution
        self.season: Seasons | None = None
        self.peak = 0.0  # largest |fast - expected| of the current or last alarm
        self.tolerance = 0.0  # deviations an operator called normal
        self.seg = x  # mean of the current segment (since the last change)
        self.slope = 0.0  # the segment's trend per reading (Holt), so a steady trend is no change
        self.sv = 0.0  # usual squared residual against the segment mean
        self.gp = 0.0  # CUSUM of upward and downward moves against the segment mean
        self.gn = 0.0
        # [weight, departure for the hour's spread (nan: none), hour of week, absolute hour, departure
        # for the cycle] of the readings the hour's spread and the cycle have not learned yet.
        self.held = HeldBack()
        self.hv = [0.0] * 24  # usual squared departure from the expected value, per local hour of day
        self.hn = [0] * 24
        self.hs = 0.0  # a fast mean of the signed departures in their hour's spread (the run view)
        self.r1 = self.r2 = 0.0  # the two latest departures (a middle of three ignores a lone outlier)
        self.qv = 0.0  # usual squared step from one reading to the next
        self.vol = 1.0  # recent squared steps over their usual size (the volatility view)


class Expected:
    """What a channel was expected to read (`low`..`high` is the usual band) and what it read."""

    __slots__ = ("high", "low", "observed")

    def __init__(self, low: float, high: float, observed: float) -> None:
        self.low, self.high, self.observed = low, high, observed

    def as_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "observed": self.observed}


class Detector:
    """See `make_detector` for the options. Not thread-safe: one series, one feeder."""

    def __init__(
        self,
        *,
        budget: float = 0.01,
        memory: int = 1000,
        fast: int = 16,
        warmup: int = 30,
        timezone: str = DEFAULT_TIMEZONE,
        seasonal: bool = True,
        release: float = 10.0,
        change: float = 8.0,
        budget_interval: float | None = None,
        run_view: bool = False,
    ) -> None:
        if not 0.0 < budget < 0.5:
            raise ValueError("budget is a fraction of readings in (0, 0.5)")
        if memory < 10:
            raise ValueError("memory is at least 10 readings")
        if not 1 <= fast < memory:
            raise ValueError("fast is at least 1 reading and less than memory")
        if release < 1.0:
            raise ValueError("release is at least 1 (times the budget)")
        if warmup < 1:
            raise ValueError("warmup is at least 1 reading")
        if change <= 0.0:
            raise ValueError("change is a CUSUM level in residual sigmas, above 0")
        if budget_interval is not None and budget_interval <= 0.0:
            raise ValueError("budget_interval is a number of seconds above 0, or None (the budget is per reading)")
        self.change = change
        self.run_view = run_view
        self.budget = budget
        self._base_budget = budget
        self._release = release
        # With `budget_interval`, the budget is a fraction of a series read once per that many
        # seconds: a series read five times as seldom may alarm on five times the fraction of its
        # readings, so every series has the same false alarms per day whatever its reading rate.
        self._budget_interval = budget_interval
        self.interval: float | None = None  # the series' usual reading interval, once measured
        self._gaps: list[float] = []
        self._last_t: float | None = None  # the previous reading's time, while the interval is measured
        self.memory = memory
        self.warmup = warmup
        self._fast = 2.0 / (fast + 1.0)
        self._log_budget = math.log(budget)
        self._log_release = math.log(min(0.5, budget * release))
        self._level = self._log_budget
        self._clock = LocalClock(timezone) if seasonal else None
        self._channels: dict[str, _Channel] = {}
        self._tail_memory = max(memory * 4, round(_TAIL_BUDGETS / budget))
        # Readings a score waits before it is learned: a climb to an alarm takes about the fast
        # mean's span, and the rise before the climb is held back too.
        self._delay = 4 * fast
        self._new_calibrators()
        self._settled = warmup  # readings before the calibrators learn (`_relearn` moves it on)
        self._quiet = 0  # nor until this reading, after readings not to be calibrated on (`update(calibrate=False)`)
        self._first_t: float | None = None
        self._taught_default = 0.0
        self.n = 0
        self.run = 0  # consecutive readings at alarm
        # Whether the last reading is at alarm, a change's re-arming mark aside (a consumer that
        # confirms alarms over several readings must not restart its count at each change).
        self.alarm = False
        # How far the last reading is from what was expected, signed, in its usual spreads (the
        # largest of a device's channels): neighbours that stray alike share a cause.
        self.z = 0.0
        # Which view was rarest at the last reading ("shift", "point", "volatility", "hour", "run"): a
        # swinging gauge is not its rising neighbours' story.
        self.lead = "shift"
        self.swinging = False  # the volatility leads and the level keeps to its normal (`_calibrated`)
        self.hot = 0  # readings of the current alarm over the entry level (not only the release level)
        self.raw = 0.0
        self.score = 0.0
        self.since = 0  # readings since the last change (the current segment's length)
        self.changes = 0  # changes marked so far
        self._onset_due = False  # a change re-armed the alarm: the next reading turns it on

    # ------------------------------------------------------------------ the stream

    def update(
        self, timestamp: datetime | float, value: float | Mapping[str, float], *, calibrate: bool = True
    ) -> float:
        """Score a reading against what came before, then learn from it; >= 0.5 means alarm.

        `calibrate=False`: the baselines follow the reading as usual, but its scores do not teach
        the calibrators what is rare (a consumer that knows it is an incident's or a broken
        sensor's). Otherwise a flood's rough hours, a party's noise or a spiking sensor thicken the
        tails, and the series' next unusual hour looks ordinary: a gauge that had seen a flood that
        morning no longer found a swing of a quarter of a metre rare. The scores still waiting to be
        learned (the climb before the consumer knew) are learned as a lasting alarm's, and those of
        the next `4 * fast` readings, while the fast statistics still carry the incident, not at all.
        """
        t = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        if not _EARLIEST <= t <= _LATEST:  # NaN too: the local hour of a time no calendar holds
            raise ValueError(f"timestamp {timestamp!r} is not epoch seconds of a year from 2 to 9998")
        if isinstance(value, int | float):
            items: Any = (("", value),)
        else:  # a mapping of channels, or a number of another type (numpy's float32, Decimal)
            items = value.items() if isinstance(value, Mapping) else (("", value),)
        if self._first_t is None:
            self._first_t = t
        if self._budget_interval is not None and self.interval is None:
            self._measure_interval(t)
        # Seasons learn from the first reading (they are used once a day was seen: `_season.py`);
        # `how` is the local hour of the week with its fraction, `hour` the absolute hour (visits).
        how, hour = -1.0, -1
        if self._clock is not None:
            how, hour = self._clock.hours_of_week(t), int(t // 3600.0)
        self.n += 1
        shift = point = cusum = level = z = vol = run = 0.0
        hourly = False
        residuals: list[tuple[_Channel, float, float]] = []
        for name, x in items:
            x = float(x)
            if not -_LIMIT <= x <= _LIMIT:
                if not math.isfinite(x):
                    continue
                x = math.copysign(_LIMIT, x)
            ch = self._channels.get(name)
            if ch is None:
                ch = self._channels[name] = _Channel(x)
                ch.tolerance = self._taught_default
            s2, p2, y = self._raw(ch, x, how)
            residuals.append((ch, x, y))
            shift += s2
            if p2 > point:
                point = p2
            if ch.vol > vol:
                vol = ch.vol
            l2 = self._hourly(ch, y, how, self.run_view)
            if l2 >= 0.0:
                hourly = True
                if l2 > level:
                    level = l2
                r2 = ch.hs * ch.hs
                if r2 > run:
                    run = r2
                zc = math.copysign(math.sqrt(l2), _middle(y - ch.mean, ch.r1, ch.r2))
            else:
                zc = math.copysign(math.sqrt(s2), ch.fast + self._fast * (y - ch.fast) - ch.mean - ch.dm)
            if abs(zc) > abs(z):
                z = zc
            if ch.n >= 2 and self.n > self.warmup:  # the spreads are not yet known in the warm-up
                g = self._cusum(ch, y)
                if g > cusum:
                    cusum = g
        shift, point, level = math.sqrt(shift), math.sqrt(point), math.sqrt(level)
        if shift > _MAX_RAW or point > _MAX_RAW or level > _MAX_RAW:
            shift, point, level = min(shift, _MAX_RAW), min(point, _MAX_RAW), min(level, _MAX_RAW)
            z = math.copysign(min(abs(z), _MAX_RAW), z)
        self.z = z
        self.raw = shift
        score = self._calibrated(shift, point, vol, level if hourly else -1.0, run)
        # Learning follows what the data says; an operator's mark only changes what is reported.
        alarm = score >= 0.5
        if not alarm:
            self.hot = 0
        elif score >= 0.5 * self._log_budget / self._level:
            self.hot += 1
        if alarm and residuals and self._taught(residuals):
            score = 0.49
            self.alarm = False
        else:
            self.alarm = alarm
        self.run = self.run + 1 if alarm else 0
        share = 1.0 if not alarm else min(1.0, self.run / self.memory) ** 2
        changed = cusum > self.change
        if changed:
            self.changes += 1
            self.since = 0
            for ch, _, _ in residuals:
                ch.gp = ch.gn = 0.0
        self.since += 1
        for ch, x, y in residuals:
            self._learn(ch, x, y, how, hour, share, alarm)
        # A lasting shift stays rare to its calibrator until the baselines absorb it; points that
        # keep recurring (a bursty series) become its normal, as the point calibrator learns them too.
        # Nothing is learned while the baselines themselves are still settling (the warm-up, and as
        # long again after a cycle is taken up): the calibrators remember long, and a first
        # reading's score against a spread of nothing would stay in their tails for weeks.
        if not calibrate:
            # The fast statistics (the fast mean, the volatility) still carry the incident for a
            # while after it: their scores are not learned until a delay's worth of readings later.
            self._quiet = self.n + self._delay
            # The held-back departures are not lowered: the baselines follow an incident's readings
            # (a variant that held them back too opened more false tickets in the city).
            self._incident(_ALARM_SHARE * self.budget, baselines=False)
        elif self.n > self._settled and self.n > self._quiet:
            self._calibrator.push(shift)
            self._point_calibrator.learn(point, 1.0 if not alarm else _POINT_ALARM_SHARE)
            self._vol_calibrator.push(vol)
            if hourly:
                self._hourly_calibrator.push(level)
                if self.run_view:
                    self._run_calibrator.push(run)
            if alarm and self.run > _SHORT:  # an incident, not a rare moment: learned as one
                self._incident(max(share, _ALARM_SHARE * self.budget), baselines=True)
        score = self._marked(score, min(1.0, 0.5 * cusum / self.change) if changed else 0.0, residuals)
        self.score = score
        return score

    def _incident(self, weight: float, *, baselines: bool) -> None:
        """What is still waiting to be learned belongs to a lasting alarm: learn it at most at `weight`.

        The late-learning calibrators' scores always; with `baselines`, every channel's held-back
        departures (the hour's spread and the cycle) too.
        """
        for calibrator in (self._calibrator, self._vol_calibrator, self._hourly_calibrator, self._run_calibrator):
            calibrator.incident(weight)
        if baselines:
            for ch in self._channels.values():
                ch.held.incident(weight)

    def _measure_interval(self, t: float) -> None:
        """The median gap of the first warm-up's readings is the series' interval; the budget follows it."""
        if self._last_t is not None and t > self._last_t:
            self._gaps.append(t - self._last_t)
        self._last_t = t
        if len(self._gaps) < self.warmup:
            return
        gaps = sorted(self._gaps)
        self._gaps = []
        self._set_interval(gaps[len(gaps) // 2])

    def _set_interval(self, interval: float) -> None:
        assert self._budget_interval is not None
        self.interval = interval
        ratio = min(_MAX_BUDGET_RATIO, max(1.0 / _MAX_BUDGET_RATIO, interval / self._budget_interval))
        budget = self.budget = min(_MAX_BUDGET, self._base_budget * ratio)
        self._log_budget = math.log(budget)
        self._log_release = math.log(min(0.5, budget * self._release))
        self._level = self._log_budget

    def _marked(self, score: float, change: float, residuals: list[tuple[_Channel, float, float]]) -> float:
        """The reported score: the two views' alarm, with each change made an onset of its own."""
        if self._onset_due:
            self._onset_due = False
            return max(score, 0.5, change)
        if change < 0.5 or (residuals and self._taught(residuals)):
            return score
        if self.score >= 0.5:  # already at alarm: re-arm now, so that the next reading is an onset
            self._onset_due = True
            return _REARM
        return max(score, change)

    def _cusum(self, ch: _Channel, y: float) -> float:
        """Add this reading to the channel's two-sided CUSUM against its segment; the larger side."""
        z = (y - ch.seg - ch.slope) / math.sqrt((ch.sv + _floor(ch)) * math.sqrt(self._memoryful(ch)))
        z = -_CLIP if z < -_CLIP else _CLIP if z > _CLIP else z  # one wild reading is a point, not a change
        ch.gp = max(0.0, ch.gp + z - _ALLOWANCE)
        ch.gn = max(0.0, ch.gn - z - _ALLOWANCE)
        return ch.gp if ch.gp > ch.gn else ch.gn

    def _memoryful(self, ch: _Channel) -> float:
        """How much more a mean of recent residuals wanders than it would on independent noise (>= 1)."""
        white = ch.var * self._fast / (2.0 - self._fast)
        return 1.0 if white <= 0.0 else min(_MAX_MEMORYFUL, max(1.0, ch.dv / white))

    def _raw(self, ch: _Channel, x: float, how: float) -> tuple[float, float, float]:
        """The channel's squared shift and point scores and its deseasonalised value.

        Also moves the channel's volatility (`vol`), a fast statistic like the fast mean that every
        reading moves, alarm or not: a gauge that starts swinging every few minutes keeps its level
        and so fools the shift view, and its swings recur too often for the point view to stay
        surprised, but its recent errors stay many times their usual size for as long as it swings.
        """
        y = x
        if how >= 0 and ch.season is not None:
            y = x - ch.season.offset(how)
        if ch.n < 2:
            return 0.0, 0.0, y
        floor = _floor(ch)
        fast = ch.fast + self._fast * (y - ch.fast)
        d = fast - ch.mean - ch.dm
        shift = d * d / (ch.dv + floor * self._fast)
        e = y - ch.fast
        point = e * e / (ch.ev + floor)
        q = x - ch.last
        ch.vol += self._fast * (min(q * q / (ch.qv + floor), _VOL_CLIP) - ch.vol)
        return shift, point, y

    @staticmethod
    def _hourly(ch: _Channel, y: float, how: float, run_view: bool) -> float:
        """The squared departure from the expected value in this hour's own spread; -1 when not known.

        A city series is not equally noisy all day: a street light's residual is a few watts all
        night and a hundred for the minutes its switch-on moves with dusk; a counter's is wide in the
        rush and narrow at night. Against the whole day's spread, a lamp at twice its power at nine in
        the evening looked like an ordinary dusk. The spread is the larger of the two hours whose
        middles bracket the time (the edge of a busy hour is judged as busy). Only with a cycle in
        use (the expected value then depends on the hour) and once both hours were seen on
        `_HOUR_DAYS` days and `_HOUR_READINGS` readings. With `run_view`, also moves the channel's
        run (`hs`), the signed departure's fast mean in the same spread.
        """
        season = ch.season
        if how < 0.0 or season is None or season.using == 0:
            return -1.0
        k = math.floor(how % 24.0 - 0.5)
        a, b = k % 24, (k + 1) % 24
        hn, days = ch.hn, season.day_n
        if min(hn[a], hn[b]) < _HOUR_READINGS or min(days[a], days[b]) < _HOUR_DAYS:
            ch.hs = 0.0
            return -1.0
        spread = max(ch.hv[a], ch.hv[b]) + _floor(ch)
        if run_view:
            u = (y - ch.mean) / math.sqrt(spread)
            u = -_RUN_CLIP if u < -_RUN_CLIP else _RUN_CLIP if u > _RUN_CLIP else u
            ch.hs += _RUN_FAST * (u - ch.hs)
        r = _middle(y - ch.mean, ch.r1, ch.r2)
        return r * r / spread

    def _learn(self, ch: _Channel, x: float, y: float, how: float, hour: int, share: float, alarm: bool) -> None:
        n = ch.n = ch.n + 1
        step = abs(x - ch.last)
        if 0.0 < step < ch.res:
            ch.res = step if step > _FINEST else _FINEST
        rate = max(1.0 / n, 1.0 / self.memory)
        a = rate * share
        if n > 1:
            ch.qv += a * ((x - ch.last) ** 2 - ch.qv)
        ch.last = x
        e = y - ch.fast
        ch.fast += self._fast * e
        if n > 1:
            ch.ev += a * (e * e - ch.ev)
        dev = y - ch.mean
        r = _middle(dev, ch.r1, ch.r2) if how >= 0 and ch.season is not None and ch.season.using else math.nan
        ch.r2, ch.r1 = ch.r1, dev
        ch.mean += a * dev
        ch.var += a * (dev * dev - ch.var)
        d = ch.fast - ch.mean - ch.dm
        ch.dm += a * d
        ch.dv += a * (d * d - ch.dv)
        e = y - ch.seg - ch.slope
        step = ch.slope + max(1.0 / self.since, 1.0 / _SEGMENT) * e
        ch.seg += step
        if n > 1:
            ch.slope += (step - ch.slope) * rate
        ch.sv += rate * (e * e - ch.sv)
        if how >= 0:
            if ch.season is None:
                ch.season = Seasons(self.memory)
            # Held back like the calibrators' scores, and like theirs less while young (`n` counts
            # since the channel started or took up a cycle).
            due = ch.held.add([share, r, how, hour, x - ch.mean], young_delay(self._delay, n))
            for k, item in enumerate(due):
                if self._learn_cycle(ch, *item):  # a finer cycle: the rest were departures around the old one
                    for rest in due[k + 1 :]:
                        rest[1] = math.nan
        if alarm:
            gap = abs(ch.fast - ch.mean)
            ch.peak = gap if self.run == 1 else max(ch.peak, gap)

    def _learn_cycle(self, ch: _Channel, share: float, r: float, how: float, hour: float, flat: float) -> bool:
        """Learn a held-back reading into the hour's spread (`r`, unless nan) and the cycle (`flat`).

        Held back, an anomaly that takes a while to alarm is not absorbed before it does: the hour's
        spread forgets over a week of visits and a cycle's slot over four, so a loud first night
        learned at once stretched both, and the rest of the night, or the next one, looked ordinary.
        Returns True when a finer cycle was taken up (`_relearn`).
        """
        season = ch.season
        assert season is not None
        if r == r:  # not nan: the hour-of-day view learns it
            h = int(how % 24.0)
            hn = ch.hn[h] = ch.hn[h] + 1
            # Winsorised once the hour is known: one loud minute must not widen the hour's spread
            # so much that the rest of a loud night looks ordinary.
            r2 = r * r if hn <= _HOUR_READINGS else min(r * r, _HOUR_CLIP * ch.hv[h] + _floor(ch))
            # Forgetting over about a week of visits to the hour, whatever the reading interval.
            rate = max(1.0 / hn, season.day_n[h] / (_HOUR_VISITS * hn))
            ch.hv[h] += rate * share * (r2 - ch.hv[h])
        hour = int(hour)
        # `flat` is already the departure from the level (the value less the mean, at reading time).
        if (share > 0.5 or season.young(how, hour)) and season.learn(how, hour, flat, 0.0):
            self._relearn(ch)
            return True
        return False

    def _relearn(self, ch: _Channel) -> None:
        """A finer cycle was just taken up: the spreads learned around the coarser model are not its own.

        Left alone, the first day's swing (or, under a daily cycle, every weekend morning without its
        rush hour) would stay the yardstick for days, and every deviation from the cycle would look
        small. The channel learns its spreads afresh around the cycle, and the calibrators start again
        (no score until they have seen a warm-up's worth).
        """
        ch.n = 1
        ch.vol = 1.0
        ch.qv = ch.dv = ch.ev = ch.var = ch.sv = ch.dm = 0.0
        ch.hv, ch.hn = [0.0] * 24, [0] * 24
        ch.hs = 0.0
        for item in ch.held.items:  # departures around the coarser model: not this hour's spread
            item[1] = math.nan
        ch.fast = ch.mean
        self._new_calibrators()
        self._settled = self.n + self.warmup

    def _new_calibrators(self) -> None:
        """Empty calibrators, one per view: shift, point, volatility and hour of day.

        The shift, volatility and hour views learn late (`DelayedCalibrator`), so a climb to a
        lasting alarm is learned as part of it; the point view learns at once, as its outliers are
        learned in full.
        """
        self._calibrator = DelayedCalibrator(self._tail_memory, self._delay)
        self._point_calibrator = TailCalibrator(self._tail_memory)
        self._vol_calibrator = DelayedCalibrator(self._tail_memory, self._delay)
        self._hourly_calibrator = DelayedCalibrator(self._tail_memory, self._delay)
        self._run_calibrator = DelayedCalibrator(self._tail_memory, self._delay)

    def _calibrated(self, shift: float, point: float, vol: float, hourly: float, run: float) -> float:
        """Each view calibrated on its own history; the rarest decides (Bonferroni: times the views).

        `hourly` < 0: the hour-of-day view has nothing to say yet (three views).
        """
        if self._calibrator.effective < self.warmup:
            return 0.0
        level_p, lead = self._calibrator.tail(shift), "shift"
        views = 3.0
        if hourly >= 0.0 and self._hourly_calibrator.effective >= self.warmup:
            views = 4.0
            hour_p = self._hourly_calibrator.tail(hourly)
            if hour_p < level_p:
                level_p, lead = hour_p, "hour"
            if self.run_view and self._run_calibrator.effective >= self.warmup:
                views = 5.0
                run_p = self._run_calibrator.tail(run)
                if run_p < level_p:
                    level_p, lead = run_p, "run"
        p = level_p
        point_p = self._point_calibrator.tail(point)
        if point_p < p:
            p, lead = point_p, "point"
        vol_p = self._vol_calibrator.tail(vol)
        if vol_p < p:
            p, lead = vol_p, "volatility"
        p *= views
        self.lead = lead
        # Swinging: the volatility leads while neither level view would hold an alarm on its own.
        self.swinging = lead == "volatility" and level_p * views > self.budget * self._release
        # Hysteresis: an alarm holds while the tail stays below `release` times the budget.
        # Only an alarm confirmed by a few readings at the entry level holds: a lone burst does not.
        level = self._log_release if self.hot >= _HOLD_AFTER else self._log_budget
        self._level = level
        if p <= 0.0:  # a raw score so far past its history that the extrapolated tail underflowed
            return 1.0
        score = 0.5 * math.log(p) / level
        return 0.0 if score < 0.0 else 1.0 if score > 1.0 else score

    def _taught(self, residuals: list[tuple[_Channel, float, float]]) -> bool:
        """An operator called a deviation this size normal: stay quiet unless it is clearly bigger."""
        for ch, _, y in residuals:
            if ch.tolerance <= 0.0:
                return False
            fast = ch.fast + self._fast * (y - ch.fast)
            if abs(fast - ch.mean) > 1.5 * ch.tolerance:
                return False
        return True

    # ------------------------------------------------------------------ operators and evidence

    def teach(self, deviation: float | Mapping[str, float] | None = None) -> None:
        """An alarm was a false one: deviations up to its size are this series' normal.

        `deviation` is the alarm's |smoothed value - expected| (per channel for a mapping, as
        `deviation_of()` reported it); None takes the last alarm's.
        """
        if isinstance(deviation, int | float):
            self._taught_default = max(self._taught_default, float(deviation))  # for a first reading yet to come
        for name, ch in self._channels.items():
            if deviation is None:
                size = ch.peak
            elif isinstance(deviation, int | float):
                size = float(deviation)
            else:
                size = float(deviation.get(name, 0.0))
            ch.tolerance = max(ch.tolerance, size)

    def deviation_of(self) -> dict[str, float]:
        """Per channel, the largest |smoothed value - expected| of the current or last alarm."""
        return {name: ch.peak for name, ch in self._channels.items()}

    @property
    def deviation(self) -> float:
        """Largest |smoothed value - expected| of the current or last alarm, over channels."""
        return max((ch.peak for ch in self._channels.values()), default=0.0)

    def expected(self, timestamp: datetime | float) -> dict[str, Expected]:
        """Each channel's usual band now (mean and season, +- 3 sigma) and its smoothed observed value."""
        t = timestamp.timestamp() if isinstance(timestamp, datetime) else float(timestamp)
        how = -1.0
        if self._clock is not None and self._first_t is not None:
            how = self._clock.hours_of_week(t)
        out = {}
        for name, ch in self._channels.items():
            offset = ch.season.offset(how) if how >= 0 and ch.season is not None else 0.0
            centre = ch.mean + offset
            half = 3.0 * math.sqrt(ch.var)
            out[name] = Expected(centre - half, centre + half, ch.fast + offset)
        return out

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict[str, Any]:
        """Everything learned, as JSON-able data (restore with `make_detector(state=...)`)."""
        channels = {}
        for name, ch in self._channels.items():
            item: dict[str, Any] = {slot: getattr(ch, slot) for slot in _Channel.__slots__ if slot not in _OBJECTS}
            item["res"] = None if ch.res == math.inf else ch.res
            # nan is not JSON: a departure the hour's spread does not learn is saved as null.
            item["held"] = [[None if v != v else v for v in held] for held in ch.held.items]
            item["held_fresh"] = ch.held.fresh
            if ch.season is not None:
                item["season"] = ch.season.state()
            channels[name] = item
        return {
            "version": STATE_VERSION,
            "n": self.n,
            "run": self.run,
            "hot": self.hot,
            "since": self.since,
            "changes": self.changes,
            "onset_due": self._onset_due,
            "settled": self._settled,
            "quiet": self._quiet,
            "first_t": self._first_t,
            "interval": self.interval,
            "taught": self._taught_default,
            "calibrator": self._calibrator.state(),
            "point_calibrator": self._point_calibrator.state(),
            "hourly_calibrator": self._hourly_calibrator.state(),
            "vol_calibrator": self._vol_calibrator.state(),
            "run_calibrator": self._run_calibrator.state(),
            "channels": channels,
        }

    def restore(self, state: Mapping[str, Any] | str) -> None:
        """Resume from `state()` or its `pack_state` string."""
        state = unpack_state(state)
        if state.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"detector state version {state.get('version')!r}, expected {STATE_VERSION}")
        self.n = int(state["n"])
        self.run = int(state["run"])
        self.hot = int(state["hot"])
        self.since = int(state.get("since", 0))
        self.changes = int(state.get("changes", 0))
        self._onset_due = bool(state.get("onset_due", False))
        self._settled = int(state.get("settled", self.warmup))
        self._quiet = int(state.get("quiet", 0))
        self._first_t = None if state["first_t"] is None else float(state["first_t"])
        interval = state.get("interval")  # saved before budgets per interval: measured afresh from now
        if self._budget_interval is not None and interval is not None:
            self._set_interval(float(interval))
        self._taught_default = float(state.get("taught", 0.0))
        self._calibrator.restore(state["calibrator"])
        self._point_calibrator.restore(state["point_calibrator"])
        if "hourly_calibrator" in state:  # saved before the hour-of-day view: it starts afresh
            self._hourly_calibrator.restore(state["hourly_calibrator"])
        if "vol_calibrator" in state:  # saved before the volatility view: it starts afresh
            self._vol_calibrator.restore(state["vol_calibrator"])
        if "run_calibrator" in state:  # saved before the run view: it starts afresh
            self._run_calibrator.restore(state["run_calibrator"])
        self._channels = {}
        for name, item in state["channels"].items():
            ch = _Channel(0.0)
            # Slots older states lack: version 1 had no change view, version 2 no volatility view.
            fresh = {"seg": item["mean"], "sv": item["var"], "slope": 0.0, "gp": 0.0, "gn": 0.0}
            fresh |= {"vol": 1.0, "qv": 2.0 * item["ev"], "hs": 0.0}
            for slot in _Channel.__slots__:
                if slot in _OBJECTS:
                    continue
                if slot in _HOURLY:  # lists; state saved before the hour-of-day view has none (learned afresh)
                    if slot in item:
                        cast = int if slot == "hn" else float
                        setattr(ch, slot, [cast(v) for v in item[slot]][:24] + [cast(0)] * (24 - len(item[slot])))
                    continue
                value = item[slot] if slot in item else fresh[slot]
                setattr(ch, slot, int(value) if slot == "n" else float(value if value is not None else math.inf))
            if "season" in item:
                ch.season = Seasons(self.memory)
                ch.season.restore(item["season"])
            # Saved before the hour's spread and the cycle learned late: nothing is waiting.
            held = ([math.nan if v is None else float(v) for v in h] for h in item.get("held", ()))
            ch.held = HeldBack(held, fresh=item.get("held_fresh"))
            self._channels[name] = ch

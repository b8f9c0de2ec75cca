"""Seasonality found from the data: none, a daily cycle, or a weekly one, whichever predicts best.

Each channel keeps the mean departure from its level per local hour of day (24 slots) and per hour
of week (168 slots), and the running squared error each of the three models (flat, daily, weekly)
would have made predicting the next value before learning it. A cycle is read as a smooth curve
through its slot means (each slot's mean stands for the middle of its hour; between two middles the
curve is a straight line), so a rush hour that ramps up within an hour, or a step from one hour to
the next, does not leave a saw-tooth in what the detector compares. A cycle is taken up once every
slot was seen and it predicts clearly better than the model in use, and kept while it predicts at
least as well as no cycle (`_choose`); so a series without a cycle is never given one, one with a
cycle is corrected for it from its second period on, and an unusual day does not switch it off.
An hour of the week is learned on its first two visits even while the detector is at alarm (the
first weekend, a daily cycle alarms on every missing rush hour), so a weekly cycle can be complete.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Seasons"]

_GAIN = 0.8  # a cycle must cut the squared error by a fifth to be believed
_MIN_VISITS = 2
_STATE = (
    *("day", "day_n", "day_s", "day_last"),
    *("week", "week_n", "week_s", "week_last"),
    *("err", "using", "scored", "week_scored"),
)
_CLIP_AFTER = 30
_MIN_SCORED = 100  # readings a cycle's error is measured on before it can be taken up
_CLIP = 9.0  # one reading adds at most this many times a model's usual squared error to it


def _curve(slots: list[float], at: float) -> float:
    """The cycle at `at` (in slots): straight lines between the slots' middles, wrapping around."""
    n = len(slots)
    pos = at - 0.5
    k = math.floor(pos)
    w = pos - k
    a = slots[k % n]
    return a + w * (slots[(k + 1) % n] - a)


class Seasons:
    """Per-channel seasonal profile; `offset(how)` is the value's expected departure from its level."""

    __slots__ = (
        "day",
        "day_last",
        "day_n",
        "day_s",
        "day_sum",
        "err",
        "memory",
        "scored",
        "seen",
        "using",
        "week",
        "week_last",
        "week_n",
        "week_s",
        "week_scored",
        "week_sum",
    )

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.day = [0.0] * 24
        self.day_n = [0] * 24  # visits: distinct days the slot was seen on
        self.day_s = [0] * 24  # samples
        self.day_last = [-1] * 24  # the absolute hour of the last visit
        self.week = [0.0] * 168
        self.week_n = [0] * 168
        self.week_s = [0] * 168
        self.week_last = [-1] * 168
        self.err = [0.0, 0.0, 0.0]  # flat, daily, weekly
        self.scored = 0  # readings the flat and daily models' errors were measured on
        self.week_scored = 0  # readings the weekly model's error was measured on (its second week on)
        self.using = 0  # the model in use: 0 flat, 1 daily, 2 weekly (chosen as it learns, kept while it helps)
        self.seen = [0, 0]  # slots visited at least once, daily and weekly: an average needs them all
        self.day_sum = 0.0  # sums of the slots, for each cycle's average
        self.week_sum = 0.0

    def _shape(self, how: float) -> tuple[float, float]:
        """The daily and weekly departures at this time of the week from each cycle's own average.

        Relative to the cycle's average rather than to the series' mean, so a trend (which moves
        every slot alike) is not mistaken for a season, and switching models moves nothing.
        """
        return self._daily(how), self._weekly(how)

    def _daily(self, how: float) -> float:
        return _curve(self.day, how % 24.0) - self.day_sum / 24.0

    def _weekly(self, how: float) -> float:
        return _curve(self.week, how) - self.week_sum / 168.0

    def offset(self, how: float) -> float:
        """Expected departure from the series' level now (`how`: local hours into the week; 0.0 for no cycle)."""
        # Every slot has been seen (the cycle is in use only then); the curve stands for any time.
        # Called for every reading: only the cycle in use is read off.
        if self.using == 2:
            return self._weekly(how)
        if self.using == 1:
            return self._daily(how)
        return 0.0

    def _choose(self) -> bool:
        """Pick the model to use from the errors; True when a finer cycle is taken up (none to daily or
        weekly, daily to weekly): the spreads learned around the coarser model are not this one's.

        A cycle is taken up when it predicts clearly better than the one in use (by a fifth) and
        kept while it predicts at least as well as no cycle: an unusual day (which is what the
        detector is for) should not switch the cycle off and make itself look ordinary.
        """
        err, before = self.err, self.using
        if self.scored < _MIN_SCORED:  # errors from a handful of readings decide nothing
            return False
        if self.using == 0 and self.seen[0] == 24 and err[1] < err[0] * _GAIN:
            self.using = 1
        weekly_known = self.week_scored >= _MIN_SCORED and self.seen[1] == 168
        if self.using <= 1 and weekly_known and err[2] < min(err[0], err[1]) * _GAIN:
            self.using = 2
        if self.using == 2 and err[2] > err[0]:
            self.using = 1
        if self.using == 1 and err[1] > err[0]:
            self.using = 0
        return self.using > before

    def young(self, how: float, hour: int) -> bool:
        """Whether this hour of the week is among its first visits (this one counted).

        Those are learned even at alarm: the first weekend a daily cycle expects a weekday's rush
        hour and alarms, and a weekly cycle that skipped what it alarmed on would never see every
        hour of the week and never be taken up.
        """
        slot = int(how)
        return self.week_n[slot] + (self.week_last[slot] != hour) <= _MIN_VISITS

    def learn(self, how: float, hour: int, x: float, mean: float) -> bool:
        """Learn one reading; True when a finer cycle has just been taken up (the spreads around it are new)."""
        slot = int(how)
        h = slot % 24
        day, week, day_n, week_n = self.day, self.week, self.day_n, self.week_n
        flat = x - mean
        if day_n[h] >= _MIN_VISITS:
            self.scored += 1
            a = max(1.0 / self.scored, 1.0 / self.memory)
            err = self.err
            daily, weekly = self._shape(how)
            err[0] += a * (self._clip(flat * flat, err[0], self.scored) - err[0])
            e = flat - daily
            err[1] += a * (self._clip(e * e, err[1], self.scored) - err[1])
            if week_n[slot] >= _MIN_VISITS:
                # Measured from its own first scored reading, not pinned to another model's error
                # until then: the weekly cycle is scored a week later than the daily one.
                self.week_scored += 1
                e = flat - weekly
                e2 = self._clip(e * e, err[2], self.week_scored)
                err[2] += max(1.0 / self.week_scored, 1.0 / self.memory) * (e2 - err[2])
        # Each slot: a running mean of the departures from the level it saw, forgetting over about
        # four visits. Departures, not values: on a trend the values of each later hour are higher,
        # which a profile of values would take for a daily saw-tooth.
        if self.day_last[h] != hour:
            self.day_last[h] = hour
            day_n[h] += 1
            if day_n[h] == 1:
                self.seen[0] += 1
        s = self.day_s[h] = self.day_s[h] + 1
        step = (flat - day[h]) * max(1.0 / s, day_n[h] / (4.0 * s))
        day[h] += step
        self.day_sum += step
        if self.week_last[slot] != hour:
            self.week_last[slot] = hour
            week_n[slot] += 1
            if week_n[slot] == 1:
                self.seen[1] += 1
        s = self.week_s[slot] = self.week_s[slot] + 1
        step = (flat - week[slot]) * max(1.0 / s, week_n[slot] / (4.0 * s))
        week[slot] += step
        self.week_sum += step
        return self._choose()

    @staticmethod
    def _clip(e2: float, usual: float, scored: int) -> float:
        """Once an error is known (`scored` readings), one reading moves it by at most `_CLIP` times the usual."""
        return e2 if scored <= _CLIP_AFTER or e2 < _CLIP * usual else _CLIP * usual

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATE}

    def restore(self, state: dict[str, Any]) -> None:
        self.using = int(state.get("using", 0))
        self.scored = int(state.get("scored", self.memory))
        self.week_scored = int(state.get("week_scored", self.scored))
        for name in _STATE:
            if name in ("using", "scored", "week_scored"):
                continue
            cast = float if name in ("day", "week", "err") else int
            values = [cast(v) for v in state[name]]
            if len(values) != len(getattr(self, name)):
                raise ValueError(f"seasonal state {name!r} has {len(values)} values")
            setattr(self, name, values)
        self.day_sum, self.week_sum = sum(self.day), sum(self.week)
        self.seen = [sum(1 for n in self.day_n if n), sum(1 for n in self.week_n if n)]

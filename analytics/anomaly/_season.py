"""Seasonality found from the data: none, a daily cycle, or a weekly one, whichever predicts best.

Each channel keeps the mean per local hour of day (24 slots) and per hour of week (168 slots), and
the running squared error each of the three models (flat, daily, weekly) would have made
predicting the next value before learning it. A cycle is used only once its slots have been seen
twice (two days, two weeks) and while it predicts clearly better than the flat model; so a series
without a cycle is never given one, and one with a cycle is corrected for it after two periods.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Seasons"]

_GAIN = 0.8  # a cycle must cut the squared error by a fifth to be believed
_MIN_VISITS = 2
_STATE = ("day", "day_n", "day_s", "day_last", "week", "week_n", "week_s", "week_last", "err")


class Seasons:
    """Per-channel seasonal profile; `offset(how)` is the value's expected departure from its mean."""

    __slots__ = ("day", "day_last", "day_n", "day_s", "err", "memory", "week", "week_last", "week_n", "week_s")

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

    def offset(self, how: int, mean: float) -> float:
        """Expected departure from `mean` this hour by the best model (0.0 for no cycle)."""
        err = self.err
        how_day = how % 24
        best, best_err = 0.0, err[0] * _GAIN
        if self.day_n[how_day] >= _MIN_VISITS and err[1] < best_err:
            best, best_err = self.day[how_day] - mean, err[1]
        if self.week_n[how] >= _MIN_VISITS and err[2] < best_err * _GAIN:
            best = self.week[how] - mean
        return best

    def learn(self, how: int, hour: int, x: float, mean: float) -> None:
        h = how % 24
        a = 1.0 / self.memory
        err = self.err
        if self.day_n[h] >= _MIN_VISITS and self.week_n[how] >= _MIN_VISITS:
            err[0] += a * ((x - mean) ** 2 - err[0])
            err[1] += a * ((x - self.day[h]) ** 2 - err[1])
            err[2] += a * ((x - self.week[how]) ** 2 - err[2])
        elif self.day_n[h] >= _MIN_VISITS:
            err[0] += a * ((x - mean) ** 2 - err[0])
            err[1] += a * ((x - self.day[h]) ** 2 - err[1])
            err[2] = max(err[2], err[0])
        # Each slot: a running mean of the values it saw, forgetting over about four visits.
        if self.day_last[h] != hour:
            self.day_last[h] = hour
            self.day_n[h] += 1
        s = self.day_s[h] = self.day_s[h] + 1
        self.day[h] += (x - self.day[h]) * max(1.0 / s, self.day_n[h] / (4.0 * s))
        if self.week_last[how] != hour:
            self.week_last[how] = hour
            self.week_n[how] += 1
        s = self.week_s[how] = self.week_s[how] + 1
        self.week[how] += (x - self.week[how]) * max(1.0 / s, self.week_n[how] / (4.0 * s))

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATE}

    def restore(self, state: dict[str, Any]) -> None:
        for name in _STATE:
            cast = float if name in ("day", "week", "err") else int
            values = [cast(v) for v in state[name]]
            if len(values) != len(getattr(self, name)):
                raise ValueError(f"seasonal state {name!r} has {len(values)} values")
            setattr(self, name, values)

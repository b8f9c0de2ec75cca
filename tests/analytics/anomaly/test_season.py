"""The daily cycle a detector finds from the data: used from the second day, smooth across the hours."""

from __future__ import annotations

import math
import random

from analytics.anomaly import make_detector

T0 = 1_767_546_000.0  # 2026-01-05 00:00 Asia/Jakarta, a Monday
STEP = 60.0


def _cycle(t: float) -> float:
    """A street's noise: quiet at night, loud by day (one broad hump, 20 units high, peaking at 14:00)."""
    hour = ((t - T0) / 3600.0) % 24.0
    return 50.0 + 20.0 * math.exp(-(((hour - 14.0) / 4.0) ** 2))


def test_the_daily_cycle_is_expected_from_the_second_day_and_runs_smoothly_across_each_hour() -> None:
    det, rng = make_detector(budget=1e-4), random.Random(5)
    for i in range(int(86_400 / STEP) + 900):  # the first day and fifteen hours of the second
        t = T0 + i * STEP
        det.update(t, _cycle(t) + rng.gauss(0, 0.3))
    second_day = T0 + 86_400.0
    morning, afternoon = (det.expected(second_day + h * 3600.0)[""] for h in (4.0, 14.0))
    centre = [(e.low + e.high) / 2 for e in (morning, afternoon)]
    # The afternoon is expected about 20 units above the night: the cycle, learned on day one, is in use.
    assert centre[1] - centre[0] > 15.0
    # Between two hours the expected level moves by what the cycle moves, not in a step at the hour.
    before, after = (det.expected(second_day + 12 * 3600.0 + s)[""] for s in (-1.0, 1.0))
    assert abs((before.low + before.high) - (after.low + after.high)) / 2 < 0.1


def test_an_unusual_afternoon_is_judged_against_the_cycle_not_switched_off_by_it() -> None:
    """The afternoon hump fails to come on day four (the street is closed): the cycle stays in use,
    so the detector still expects the hump at the height of the closed afternoon, the closure
    alarms, and the next day is normal again."""
    det, rng = make_detector(budget=1e-4), random.Random(6)
    day = int(86_400 / STEP)
    scores = []
    for i in range(5 * day):
        t = T0 + i * STEP
        hour = (i % day) * STEP / 3600.0
        closed = 3 * day <= i < 4 * day and 10.0 <= hour < 18.0
        value = (50.0 if closed else _cycle(t)) + rng.gauss(0, 0.3)
        scores.append(det.update(t, value))
        if closed and hour == 14.0:
            band = det.expected(t)[""]
            assert (band.low + band.high) / 2 > value + 10.0, "the hump is still expected on the closed afternoon"
    assert max(scores[3 * day + 600 : 3 * day + 1080]) >= 0.5, "the closure alarms"
    assert sum(s >= 0.5 for s in scores[4 * day :]) <= 10, "the day after is normal again"


def _traffic(t: float) -> float:
    """A road's counter: a weekday morning rush of 80 more vehicles at 07:00, none at the weekend."""
    hours = (t - T0) / 3600.0
    hour, weekday = hours % 24.0, int(hours // 24.0) % 7
    rush = 80.0 * math.exp(-(((hour - 7.0) / 1.0) ** 2)) if weekday < 5 else 0.0
    return 20.0 + rush


def test_a_weekly_cycle_is_taken_up_when_weekends_differ_and_a_missing_rush_then_alarms() -> None:
    """Two weeks teach the weekly cycle (every hour of the week seen twice); from then on a Saturday
    without a rush is ordinary, and a Monday without one (the road is blocked) is an alarm."""
    det, rng, step = make_detector(budget=1e-3), random.Random(8), 300.0
    t = T0
    while t < T0 + 15 * 86_400:  # two weeks and a day: the weekly cycle is in use from the third week
        det.update(t, _traffic(t) + rng.gauss(0, 2.0))
        t += step
    saturday, monday = T0 + 19 * 86_400 + 7 * 3600.0, T0 + 21 * 86_400 + 7 * 3600.0
    expected_saturday = det.expected(saturday)[""]
    expected_monday = det.expected(monday)[""]
    assert (expected_monday.low + expected_monday.high) / 2 - (expected_saturday.low + expected_saturday.high) / 2 > 50
    scores = {}
    while t < T0 + 22 * 86_400:
        blocked = monday - 3600.0 <= t <= monday + 3600.0
        value = 20.0 + rng.gauss(0, 2.0) if blocked else _traffic(t) + rng.gauss(0, 2.0)
        scores[t] = det.update(t, value)
        t += step
    saturday_rush = [s for u, s in scores.items() if saturday - 3600.0 <= u <= saturday + 3600.0]
    monday_rush = [s for u, s in scores.items() if monday - 3600.0 <= u <= monday + 3600.0]
    assert max(saturday_rush) < 0.5
    assert sum(s >= 0.5 for s in monday_rush) >= 3

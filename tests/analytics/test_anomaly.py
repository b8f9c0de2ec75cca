"""One conformance check for the general detector over the kinds of series a city has.

For each kind: normal data alarms at about the budget (never far above it), a clear anomaly
appended to it scores >= 0.5. Further: restart from saved state scores exactly as if never
stopped, state stays under 64 KiB, a lasting new normal is absorbed, and operators' false-alarm
marks quiet the same deviation but not one twice its size.
"""

from __future__ import annotations

import base64
import json
import math
import random
import zlib
from collections.abc import Callable, Iterator

import pytest

from analytics.anomaly import Detector, make_detector, pack_state
from tests.analytics.support import loud_by_day, river_level

Series = Callable[[random.Random], Iterator[tuple[float, float]]]
T0 = 1_767_546_000.0  # 2026-01-05 00:00 Asia/Jakarta, a Monday
N = 6000
DAY = 86_400.0
BUDGET = 0.005


def _regular(step: float, value: Callable[[random.Random, float, int], float]) -> Series:
    def gen(rng: random.Random) -> Iterator[tuple[float, float]]:
        for i in range(N):
            t = T0 + i * step
            yield t, value(rng, t, i)

    return gen


def _irregular(rng: random.Random) -> Iterator[tuple[float, float]]:
    t = T0
    for _ in range(N):
        t += rng.expovariate(1 / 90.0) + 1.0
        yield t, 1013.0 + 2.0 * math.sin(t / 20_000) + rng.gauss(0, 0.3)


def _bursty(rng: random.Random, t: float, i: int) -> float:
    return rng.expovariate(1 / 40.0) if rng.random() < 0.05 else 0.0


KINDS: dict[str, tuple[Series, float]] = {
    # kind: (normal series, the size of a clear anomaly added on top)
    "flat": (_regular(60.0, lambda rng, t, i: 5.0), 1.0),
    "quantised": (_regular(60.0, lambda rng, t, i: float(sum(rng.random() < 0.3 for _ in range(10)))), 12.0),
    "bursty": (_regular(30.0, _bursty), 2000.0),
    "trending": (_regular(300.0, lambda rng, t, i: 1e6 + 50.0 * i + rng.gauss(0, 400.0)), 20_000.0),
    "seasonal": (
        _regular(
            600.0,
            lambda rng, t, i: 400.0 + 300.0 * max(0.0, math.sin(2 * math.pi * (t - T0) / 86_400)) + rng.gauss(0, 10),
        ),
        250.0,
    ),
    "irregular": (_irregular, 6.0),
    "tiny_scale": (_regular(1.0, lambda rng, t, i: 3e-6 + rng.gauss(0, 1e-8)), 2e-7),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_alarm_rate_near_budget_and_clear_anomalies_found(kind: str) -> None:
    series, size = KINDS[kind]
    rng = random.Random(1)
    det = make_detector(budget=BUDGET)
    onsets = rows = 0
    alarm = False
    last_t = 0.0
    for t, v in series(rng):
        now = det.update(t, v) >= 0.5
        onsets += now and not alarm
        rows += now
        alarm = now
        last_t = t
    # The budget is of alarms (each could be a ticket); a confirmed alarm holds (hysteresis) for a while.
    assert onsets <= 2.5 * BUDGET * N, f"{kind}: {onsets} alarms in {N} normal readings"
    assert rows <= 10 * BUDGET * N, f"{kind}: {rows} of {N} normal readings at alarm"
    # A clear anomaly: the next readings off by `size` (far beyond anything seen) for a few readings.
    step = 60.0
    peak = max(det.update(last_t + (k + 1) * step, v + size) for k, (_, v) in zip(range(5), series(rng), strict=False))
    assert peak >= 0.5, f"{kind}: clear anomaly scored {peak:.3f}"


def test_restart_from_state_resumes_as_if_never_stopped_and_keeps_weekly_cycle() -> None:
    rng = random.Random(3)
    det = make_detector()
    readings = [
        (T0 + i * 900.0, 50.0 + 30.0 * math.sin(2 * math.pi * i * 900.0 / 86_400) + rng.gauss(0, 2))
        for i in range(3000)
    ]  # a month at 15-minute steps
    for t, v in readings[:2000]:
        det.update(t, v)
    saved = json.dumps(det.state())
    assert len(saved) <= 64 * 1024
    resumed = make_detector(state=json.loads(saved))
    assert resumed.state()["channels"][""]["season"]["week_n"] == det.state()["channels"][""]["season"]["week_n"]
    for t, v in readings[2000:]:
        assert resumed.update(t, v) == pytest.approx(det.update(t, v), rel=1e-9, abs=1e-12)


def test_multichannel_state_stays_small() -> None:
    det = make_detector()
    rng = random.Random(4)
    for i in range(30_000):
        det.update(T0 + i * 60.0, {"a": rng.gauss(0, 1), "b": rng.gauss(5, 1), "c": float(i % 7)})
    assert len(json.dumps(det.state())) <= 64 * 1024


def test_an_eight_channel_device_saves_under_64_kib_and_resumes() -> None:
    """A SKAB-like device (eight channels, three weeks of minutes): about 100 KB as plain JSON, packed
    well under the bound, read back number for number, and resumed it scores as the one that never
    stopped (to rounding: a restored calibrator's histogram is rescaled)."""
    rng = random.Random(8)

    def reading(i: int) -> dict[str, float]:
        day = math.sin(2 * math.pi * i / 1440)
        return {f"c{k}": 5.0 * k + (3.0 * day if k % 2 else float(i % 7)) + rng.gauss(0, 1) for k in range(8)}

    det = make_detector()
    for i in range(30_000):
        det.update(T0 + i * 60.0, reading(i))
    packed = pack_state(det.state())
    assert len(json.dumps(det.state())) > 64 * 1024  # the plain JSON would not fit: packing is what keeps it
    assert len(json.dumps(packed)) <= 64 * 1024
    resumed = make_detector(state=json.loads(json.dumps(packed)))
    assert resumed.state() == det.state()
    for i in range(30_000, 31_000):
        value = reading(i)
        assert resumed.update(T0 + i * 60.0, value) == pytest.approx(det.update(T0 + i * 60.0, value), rel=1e-9)


def test_a_damaged_packed_state_is_refused_with_a_clear_error() -> None:
    det = make_detector()
    for i in range(100):
        det.update(T0 + i * 60.0, float(i % 5))
    packed = pack_state(det.state())
    with pytest.raises(ValueError, match="unreadable"):
        make_detector(state=packed[:-8])
    with pytest.raises(ValueError, match="not a packed"):
        make_detector(state="{}")
    # A small file that would inflate without end is refused before it fills the memory.
    bomb = zlib.compress(b'{"a": "' + b" " * (17 * 1024 * 1024) + b'"}', 9)
    with pytest.raises(ValueError, match="larger than"):
        make_detector(state="z1:" + base64.b64encode(bomb).decode())


def _alarms_at_scale(scale: float, kind: str = "step") -> list[int]:
    """Readings at alarm over a noisy series times `scale`, with a burst or a lone wild reading."""
    det, rng, alarms = make_detector(), random.Random(1), []
    for i in range(3000):
        if kind == "step":
            value = scale * (rng.gauss(0, 1) + (8.0 if 2000 <= i < 2050 else 0.0))
        else:  # flat, then one reading at the scale and back
            value = scale if i == 2000 else 1.0
        score = det.update(T0 + 60.0 * i, value)
        assert 0.0 <= score <= 1.0, (scale, kind, i, score)
        if score >= 0.5:
            alarms.append(i)
    make_detector(state=pack_state(det.state()))  # what it learned saves and restores (no infinity)
    return alarms


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e150, 1e200, 1e300])
def test_readings_far_beyond_any_sensor_neither_raise_nor_break_the_state(scale: float) -> None:
    """A quantity registered without bounds reaches the detector with whatever a device sends.

    Squares of 1e160 overflowed, a step of 1e-200 squared to a zero variance: the reading raised
    out of the engine instead of being scored.
    """
    _alarms_at_scale(scale)
    assert 2000 in _alarms_at_scale(scale, kind="wild")


@pytest.mark.parametrize("timestamp", [math.nan, math.inf, -math.inf, 1e300, -1e300])
def test_a_timestamp_no_calendar_holds_is_refused_with_a_clear_error(timestamp: float) -> None:
    det = make_detector()
    det.update(T0, 1.0)
    with pytest.raises(ValueError, match="is not epoch seconds"):  # was: OverflowError or "convert NaN"
        det.update(timestamp, 2.0)
    assert det.update(T0 + 60.0, 2.0) <= 1.0  # and the detector goes on


def test_a_number_of_another_type_is_scored_as_a_float() -> None:
    """numpy's float32 and Decimal are numbers, not mappings of channels (was: AttributeError)."""
    from decimal import Decimal

    import numpy as np

    plain, typed = make_detector(), make_detector()
    rng = random.Random(3)
    for i in range(500):
        x = round(rng.gauss(10, 1), 2)
        value = np.float32(x) if i % 2 else Decimal(str(x))
        assert typed.update(T0 + 60.0 * i, value) == pytest.approx(plain.update(T0 + 60.0 * i, float(value)))


def test_the_same_series_alarms_alike_in_any_unit_from_1e_minus_120_to_1e90() -> None:
    ordinary = _alarms_at_scale(1.0)
    assert any(2000 <= i < 2050 for i in ordinary)
    for scale in (1e-120, 1e-30, 1e-3, 1e6, 1e30, 1e90):
        assert _alarms_at_scale(scale) == ordinary, scale


def test_adapts_to_a_lasting_new_normal() -> None:
    rng = random.Random(5)
    det = make_detector(memory=500)
    t = T0
    for _ in range(2000):
        t += 60.0
        det.update(t, 20.0 + rng.gauss(0, 1))
    scores = []
    for _ in range(4000):
        t += 60.0
        scores.append(det.update(t, 35.0 + rng.gauss(0, 1)))
    assert max(scores[:20]) >= 0.5  # the step itself is an anomaly
    # Then it is the normal: it alarms about as often as plain data does at this budget (0.01).
    assert sum(s >= 0.5 for s in scores[-1000:]) <= 2 * 0.01 * 1000


def test_false_alarm_mark_quiets_the_same_deviation_not_twice_it() -> None:
    rng = random.Random(6)

    def day(det: Detector, start: float, bump: float) -> tuple[float, float]:
        """A day with a two-hour bump of `bump`: the highest score in the bump, the deviation at its end."""
        peak = deviation = 0.0
        for i in range(288):
            t = start + i * 300.0
            v = 10.0 + rng.gauss(0, 0.5) + (bump if 120 <= i < 144 else 0.0)
            s = det.update(t, v)
            if 120 <= i < 144:
                peak, deviation = max(peak, s), det.deviation
        return peak, deviation

    det = make_detector()
    for d in range(7):
        day(det, T0 + d * DAY, 0.0)
    score, deviation = day(det, T0 + 7 * DAY, 4.0)
    assert score >= 0.5  # a 4-unit bump alarms
    det.teach(deviation)  # an operator: that was normal
    taught = json.loads(json.dumps(det.state()))
    assert day(det, T0 + 8 * DAY, 4.0)[0] < 0.5  # the same bump the next day: quiet
    twice = make_detector(state=taught)
    assert day(twice, T0 + 8 * DAY, 8.0)[0] >= 0.5  # twice its size: still an alarm


def _onsets(scores: list[float]) -> list[int]:
    return [i for i, s in enumerate(scores) if s >= 0.5 and (i == 0 or scores[i - 1] < 0.5)]


def test_each_change_is_an_alarm_onset_of_its_own_the_return_to_normal_included() -> None:
    """A consumer counting onsets (a changepoint benchmark, an operator's log) sees every change."""
    rng = random.Random(7)
    det = make_detector()
    level = [0.0] * 3000 + [5.0] * 300 + [10.0] * 300 + [0.0] * 300  # up, further up while at alarm, back
    scores = [det.update(T0 + i, v + rng.gauss(0, 1)) for i, v in enumerate(level)]
    onsets = _onsets(scores)
    for change in (3000, 3300, 3600):
        assert any(change <= o <= change + 15 for o in onsets), f"no onset within 15 readings of {change}: {onsets}"
    assert scores[3000:3300].count(0.49) <= 2  # the alarm stays on through the anomaly: re-armed, not dropped
    assert sum(s >= 0.5 for s in scores[3000:3300]) >= 250


def test_one_wild_reading_or_a_steady_trend_is_no_change() -> None:
    rng = random.Random(8)
    det = make_detector()
    for i in range(4000):
        det.update(T0 + i * 60.0, 100.0 + 0.5 * i + rng.gauss(0, 5.0) + (500.0 if i == 3000 else 0.0))
    assert det.changes == 0


def test_state_of_the_previous_version_resumes() -> None:
    """Detectors saved before the change view existed (state version 1) resume and keep scoring."""
    rng = random.Random(9)
    det = make_detector()
    for i in range(2000):
        det.update(T0 + i * 60.0, 20.0 + rng.gauss(0, 1))
    old = det.state()
    old["version"] = 1
    for key in ("since", "changes", "onset_due"):
        del old[key]
    for channel in old["channels"].values():
        for key in ("seg", "slope", "sv", "gp", "gn"):
            del channel[key]
    resumed = make_detector(state=json.loads(json.dumps(old)))
    quiet = [resumed.update(T0 + (2000 + i) * 60.0, 20.0 + rng.gauss(0, 1)) for i in range(200)]
    assert sum(s >= 0.5 for s in quiet) <= 5
    step = [resumed.update(T0 + (2200 + i) * 60.0, 30.0 + rng.gauss(0, 1)) for i in range(20)]
    assert max(step) >= 0.5


def test_a_street_light_at_twice_its_power_alarms_although_its_dusk_moves() -> None:
    """A lamp lit from dusk to dawn, whose switch-on moves by half an hour from day to day: across
    the whole day its residual is huge at dusk and dawn, so against the day's spread a lamp drawing
    twice its power at nine in the evening looked like an ordinary dusk (score 0.2). Against that
    hour's own spread it is far out, and alarms within the hour at the engine's budget."""
    rng = random.Random(6)
    det = make_detector(budget=1e-5)
    step, days = 300.0, 15
    times = [(rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)) for _ in range(days)]  # dusk and dawn moves
    ordinary: list[tuple[int, float]] = []
    found: list[float] = []
    for i in range(int(days * DAY / step)):
        t = T0 + i * step
        day, hour = int((t - T0) // DAY), ((t - T0) % DAY) / 3600.0
        lit = hour >= 18.0 + times[day][0] or hour < 6.0 + times[day][1]
        power = 100.0 * rng.gauss(1.0, 0.01) if lit else 0.3
        overdraw = day == days - 1 and 20.0 <= hour < 23.0
        det.update(t, 2.0 * power if overdraw else power)
        if det.alarm and overdraw:
            found.append(hour)
        elif det.alarm and 2 <= day < days - 1:  # the first day has nothing to compare with
            ordinary.append((day, hour))
    assert ordinary == [], "ordinary dusks and dawns, wherever they fall, are no alarm"
    assert found, "twice the power is found"
    assert min(found) < 21.0, "within the first hour"
    assert len(found) >= 24, "and stays found for at least two of its three hours"


def test_a_shift_that_climbs_is_found_each_time_it_comes_back_and_a_smaller_one_after() -> None:
    """An incident often climbs: a party's noise rises for a quarter of an hour, each minute a
    little louder than the last. Learned at once, each minute raised the tail the next was judged
    against, so the climb never looked rare and was learned in full; at a budget of 5e-5 such a
    shift of twelve spreads was not found at all, and a step of eight spreads a day later neither.
    Learned late, a climb that ends in a lasting alarm is learned as that alarm's."""
    rng = random.Random(1)
    det = make_detector(budget=5e-5, seasonal=False)
    t = T0

    def alarms(values: list[float]) -> int:
        nonlocal t
        found = 0
        for v in values:
            t += 60.0
            det.update(t, v + rng.gauss(0, 1))
            found += det.alarm
        return found

    alarms([0.0] * 3000)
    found = []
    for _ in range(4):
        found.append(alarms([12.0 * k / 15 for k in range(15)] + [12.0] * 45))
        alarms([0.0] * 1440)
    assert min(found) >= 40, f"minutes at alarm in each of the four climbs: {found}"
    assert alarms([8.0] * 60) >= 40, "and a step of eight spreads the next day"


def test_a_gauge_that_starts_swinging_alarms_while_its_level_holds() -> None:
    """A water level that starts swinging by a quarter of a metre every twelve minutes keeps its
    level (the shift view sees nothing) and swings too often for the point view to stay surprised;
    the volatility view sees its steps many times their usual size for as long as it swings. The
    days before, with a river that rises and falls twice a day, raise no alarm."""
    rng = random.Random(12)
    det = make_detector(budget=1e-5)
    swinging: list[bool] = []
    onsets, was = 0, False
    swing = range(11 * 1440 + 600, 11 * 1440 + 780)
    for i in range(12 * 1440):
        det.update(T0 + i * 60.0, river_level(i, rng, swing=swing))
        if i in swing:
            swinging.append(det.alarm)
        elif 2 * 1440 <= i < 11 * 1440:
            onsets += det.alarm and not was
        was = det.alarm
    assert onsets <= 2, f"{onsets} alarms on the ordinary days"
    assert sum(swinging) >= 120, f"at alarm for {sum(swinging)} of the swing's 180 minutes"


@pytest.mark.parametrize("learn_the_flood", [False, True])
def test_a_swing_after_a_flood_the_detector_was_told_not_to_learn_still_alarms(learn_the_flood: bool) -> None:
    """A flood's hours (a river a metre up, rough with debris) scored with `calibrate=False`, as the
    engine does for readings an incident explains, leave what the detector finds rare as it was, so
    a swing of a quarter of a metre that evening is as rare as on any day. Learned, the flood's
    steps become the river's normal and the same swing passes unseen."""
    rng = random.Random(12)
    det = make_detector(budget=1e-5)
    flood, swing = range(10 * 1440 + 300, 10 * 1440 + 600), range(10 * 1440 + 900, 10 * 1440 + 1080)
    swinging: list[bool] = []
    for i in range(11 * 1440):
        level = river_level(i, rng, flood=flood, flood_height=1.2, swing=swing)
        det.update(T0 + i * 60.0, level, calibrate=learn_the_flood or i not in flood)
        if i in swing:
            swinging.append(det.alarm)
    if learn_the_flood:
        assert sum(swinging) < 30, f"learned, the flood hid the swing: at alarm {sum(swinging)} of 180 minutes"
    else:
        assert sum(swinging) >= 150, f"at alarm for {sum(swinging)} of the swing's 180 minutes"


def test_a_budget_per_interval_gives_series_the_same_false_alarms_per_day_whatever_their_rate() -> None:
    """An operator counts false alarms per day, not per reading: at a budget per reading, a sensor
    read every five minutes alarmed a fifth as often per day as one read every minute, and needed a
    larger departure to alarm at all. With the budget per minute of series time, both alarm about
    equally often per day on the same noise; per reading the slow one stays quiet."""

    def alarms_per_day(step: float, budget_interval: float | None) -> float:
        rng = random.Random(3)
        det = make_detector(budget=0.002, budget_interval=budget_interval, seasonal=False)
        alarmed = 0
        for i in range(20_000):
            det.update(T0 + i * step, rng.gauss(0, 1))
            alarmed += det.alarm and i >= 2000
        return alarmed / (18_000 * step / DAY)

    minute = alarms_per_day(60.0, 60.0)
    five = alarms_per_day(300.0, 60.0)
    per_reading = alarms_per_day(300.0, None)
    assert minute > 0
    assert 0.5 * minute <= five <= 2.0 * minute, f"{five:.1f} vs {minute:.1f} alarmed readings per day"
    assert per_reading < 0.5 * minute, "per reading, the slower series alarms less per day"
    det = make_detector(budget=0.002, budget_interval=60.0)
    for i in range(40):
        det.update(T0 + i * 300.0, 1.0)
    assert det.interval == 300.0
    assert det.budget == pytest.approx(0.01)
    assert make_detector(budget=0.002, budget_interval=60.0, state=det.state()).budget == pytest.approx(0.01)


def _loud_nights(
    det: Detector, seed: int, step: float, nights: int, bump: Callable[[float], float]
) -> tuple[list[int], int]:
    """Sixteen days of `loud_by_day`, the last `nights` nights raised by `bump(hours since 01:00)`
    from one to four in the morning: each night's readings at alarm, and the alarm onsets on the
    ordinary days from the eighth on (the detector has learned its cycle by then)."""
    rng, days = random.Random(seed), 16
    found, onsets, was = [0] * nights, 0, False
    for i in range(int(days * DAY / step)):
        t = T0 + i * step
        day, hour = divmod((t - T0) / 3600.0, 24.0)
        night = int(day) - (days - nights)
        inside = night >= 0 and 1.0 <= hour < 4.0
        det.update(t, loud_by_day(hour, rng) + (bump(hour - 1.0) if inside else 0.0))
        if inside:
            found[night] += det.alarm
        elif 8 <= day < days - nights:
            onsets += det.alarm and not was
        was = det.alarm
    return found, onsets


def test_three_hours_at_four_night_spreads_alarm_when_runs_are_judged() -> None:
    """A particle sensor loud by day (a spread of 4) and quiet at night (0.5) reads four night
    spreads high from one to four in the morning. Against the whole day's spread that is nothing
    (the shift view), and one reading at four spreads is rarely rare enough (the hour view); a run
    of them, judged by the run view, is rare, and alarms for most of the three hours, at least
    twice as long as without it. The week before raises no alarm either way. (Not every such
    night is found: since the hour's spread and cycle learn late, the run view reached 30 of the 36
    readings on this seed only of eight tried, found part of the night on two more, and none of it
    on five; before, it reached 30 on four of the eight.)"""
    ([judged], judged_onsets), ([plain], plain_onsets) = (
        _loud_nights(make_detector(budget=4e-5, run_view=run_view), 8, 300.0, 1, lambda _: 2.0)
        for run_view in (True, False)
    )
    assert judged_onsets == plain_onsets == 0, f"{judged_onsets}, {plain_onsets} alarms on the ordinary days"
    assert judged >= 30, f"at alarm for {judged} of the 36 readings"
    assert plain <= judged / 2, f"without the run view, at alarm for {plain} of the 36 readings"


def test_a_loud_night_is_still_found_the_next_night() -> None:
    """A sensor quiet at night (a spread of 0.5) climbs over an hour to three units above itself
    from one to four in the morning, two nights running, read every minute. Its climb alarms only
    after a while; learned at once, the climb had already stretched that hour's spread and moved its
    slot of the daily cycle, and the second night looked ordinary. Held back until it is clear that
    no alarm came, the first night is learned as an alarm's (hardly at all), and the second night
    alarms like the first. The ordinary days before raise at most a few alarms (the budget's worth)."""
    found, onsets = _loud_nights(make_detector(budget=0.001), 2, 60.0, 2, lambda since: 3.0 * min(1.0, since))
    assert onsets <= 8, f"{onsets} alarms on six ordinary days"
    assert min(found) >= 100, f"at alarm for {found} of each night's 180 readings"

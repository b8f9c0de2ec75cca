"""One seeded conformance suite that every streaming detector must pass.

Like River's and scikit-learn's estimator checks: every detector, whatever it watches, must give
finite non-negative scores, score without learning, be deterministic, stay quiet on normal data
once it has learned, and raise a score of at least 1 on the anomaly it exists to find.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from analytics.detectors import Detector
from analytics.detectors.forecast import TrendForecast
from analytics.detectors.forest import ForestDetector
from analytics.detectors.health import ImplausibleJump, NeighbourDrift, SilenceWatch, StuckValue
from analytics.detectors.streaming import LevelShift, RateOfChange, SeasonalBaseline
from citysense.wire import Reading

T0 = 1_767_546_000_000  # 2026-01-05 00:00 local (UTC+7), a Monday
MINUTE = 60_000
DEVICES = ("a", "b", "c", "d", "e")


def city_signal(rng: random.Random, minutes: int, *, devices=("a",), start=0) -> list[Reading]:
    """A PM2.5-like series per device: a daily cycle, a per-device offset and noise, one reading a minute."""
    offsets = {d: rng.gauss(0, 2) for d in devices}
    readings = []
    for m in range(start, start + minutes):
        hour = (m / 60) % 24
        for d in devices:
            value = 25 + 10 * math.sin(2 * math.pi * (hour - 8) / 24) + offsets[d] + rng.gauss(0, 1.5)
            readings.append(Reading(d, "pm25", round(value), T0 + m * MINUTE))
    return readings


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Detector]
    normal_minutes: int
    anomaly: Callable[[list[Reading], random.Random], list[Reading]]
    devices: tuple[str, ...] = ("a",)


def _then(readings: list[Reading], fn: Callable[[int, Reading], float | None], minutes: int) -> list[Reading]:
    """Continue the last device's series for `minutes`, its value given by fn (None: no reading)."""
    last = readings[-1]
    out = []
    for i in range(1, minutes + 1):
        value = fn(i, last)
        if value is not None:
            out.append(Reading(last.device_id, last.quantity, value, last.time_ms + i * MINUTE))
    return out


def _spike(readings, rng):
    return _then(readings, lambda i, last: last.value * 6 + 40, 1)


def _shift(readings, rng):
    return _then(readings, lambda i, last: last.value + 25 + rng.gauss(0, 1.5), 30)


def _stuck(readings, rng):
    return _then(readings, lambda i, last: last.value, 60)


def _long_stuck(readings, rng):
    return _then(readings, lambda i, last: last.value, 180)


def _rise(readings, rng):
    return _then(readings, lambda i, last: last.value + 3 * i, 10)


def _drift(readings, rng):
    # Only device "e" drifts: +0.5 per minute; the others carry on normally.
    more = city_signal(rng, 240, devices=DEVICES, start=3 * 1440)
    return [
        Reading(r.device_id, r.quantity, r.value + (0.5 * (i // len(DEVICES)) if r.device_id == "e" else 0), r.time_ms)
        for i, r in enumerate(more)
    ]


def _silence(readings, rng):
    # Device "e" goes quiet for three hours, then reports once more: that late reading is the finding.
    last = readings[-1]
    return [Reading("e", last.quantity, last.value, last.time_ms + 180 * MINUTE)]


CASES = [
    Case("seasonal", lambda: SeasonalBaseline(floor=1.0), 3 * 1440, _shift),
    Case("level_shift", lambda: LevelShift(floor=1.0), 3 * 1440, _shift),
    Case("rate_of_change", lambda: RateOfChange(floor=1.0), 3 * 1440, _spike),
    Case("stuck", lambda: StuckValue(), 3 * 1440, _stuck),
    Case("implausible_jump", lambda: ImplausibleJump(max_step=20.0, ceiling=1000.0), 3 * 1440, _spike),
    Case("forecast", lambda: TrendForecast(threshold=55.5, min_fraction=0.6), 3 * 1440, _rise),
    Case("forest", lambda: ForestDetector(window_s=3600, train_windows=48, seed=3), 3 * 1440, _long_stuck),
    Case("neighbour_drift", lambda: NeighbourDrift(floor=10.0), 3 * 1440, _drift, DEVICES),
    Case("silence", lambda: SilenceWatch(min_gap_s=600), 3 * 1440, _silence, DEVICES),
]


def run(detector: Detector, readings: list[Reading]) -> list[float]:
    scores = []
    for r in readings:
        scores.append(detector.score_one(r))
        detector.learn_one(r)
    return scores


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request) -> Case:
    return request.param


def normal(case: Case, seed: int = 7) -> list[Reading]:
    return city_signal(random.Random(seed), case.normal_minutes, devices=case.devices)


def test_detector_has_the_interface(case):
    detector = case.make()
    assert isinstance(detector, Detector)
    assert isinstance(detector.name, str)
    assert detector.name


def test_scores_are_finite_non_negative_and_deterministic(case):
    readings = normal(case)
    first, second = run(case.make(), readings), run(case.make(), readings)
    assert first == second
    assert all(math.isfinite(s) and s >= 0 for s in first)


def test_scoring_does_not_learn(case):
    readings = normal(case)[: len(case.devices) * 2000]
    plain, scored_twice = case.make(), case.make()
    for r in readings:
        a = plain.score_one(r)
        assert scored_twice.score_one(r) == a
        assert scored_twice.score_one(r) == a  # a second look changes nothing
        plain.learn_one(r)
        scored_twice.learn_one(r)
    probe = readings[-1]
    assert plain.score_one(probe) == scored_twice.score_one(probe)


def test_fast_path_update_equals_score_then_learn(case):
    detector = case.make()
    update = getattr(detector, "update", None)
    if update is None:
        return  # this detector has no fast path; score_one + learn_one is all there is
    reference = copy.deepcopy(detector)
    for r in normal(case)[: len(case.devices) * 1500]:
        assert update(r) == reference.score_one(r)
        reference.learn_one(r)


def test_quiet_on_normal_data_once_learned(case):
    readings = normal(case)
    scores = run(case.make(), readings)
    learned = scores[len(scores) // 2 :]
    alarms = sum(s >= 1.0 for s in learned)
    assert alarms <= 0.002 * len(learned), f"{alarms} alarms in {len(learned)} normal readings"


def test_raises_its_anomaly(case):
    rng = random.Random(11)
    readings = normal(case)
    detector = case.make()
    run(detector, readings)
    tail = case.anomaly(readings, rng)
    scores = run(detector, tail)
    assert max(scores) >= 1.0, f"{case.name} missed its anomaly (max score {max(scores):.2f})"

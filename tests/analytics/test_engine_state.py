"""After a restart the anomaly detectors resume from saved state, weekly cycles included."""

from __future__ import annotations

import json
import logging
import math
import random

import pytest

from analytics.anomaly import pack_state, unpack_state
from analytics.engine import DeviceMeta, Engine, EngineConfig
from citysense.settings import AnalyticsSettings
from citysense.wire import Reading

T0_MS = 1_767_546_000_000  # 2026-01-05 00:00 Asia/Jakarta, a Monday
HOUR_MS = 3_600_000


def _engine() -> Engine:
    return Engine(EngineConfig.from_settings(AnalyticsSettings()), lambda d: DeviceMeta(d, "kota-lama", "counter"))


def _readings(weeks: int) -> list[Reading]:
    """Hourly traffic counts with a daily cycle and quiet weekends, three weeks of them."""
    rng = random.Random(5)
    out = []
    for h in range(weeks * 168):
        hour, weekday = h % 24, (h // 24) % 7
        level = 200 + 150 * math.sin(math.pi * max(0, hour - 6) / 14) * (hour >= 6) * (0.4 if weekday >= 5 else 1)
        out.append(Reading("counter-1", "traffic_count", float(round(level + rng.gauss(0, 8))), T0_MS + h * HOUR_MS))
    return out


def test_saved_state_resumes_scoring_exactly_and_a_warm_up_over_it_learns_nothing_twice() -> None:
    readings = _readings(3)
    split = 2 * 168 + 30
    running = _engine()
    for r in readings[:split]:
        running.process(r)
    saved = json.loads(json.dumps(running.anomaly_states()))
    state = unpack_state(saved["series"]["counter-1\ttraffic_count"]["state"])
    week = state["channels"][""]["season"]["week_n"]
    assert min(week) >= 2  # two weeks of every hour of the week are in the saved state

    restarted = _engine()
    assert restarted.restore_anomaly_states(saved) == 1
    restarted.warm(readings[split - 48 : split])  # the warm-up repeats the last two days: no effect
    for r in readings[split:]:
        running.process(r)
        restarted.process(r)
        a = running._series[("counter-1", "traffic_count")].anomaly
        b = restarted._series[("counter-1", "traffic_count")].anomaly
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)


def test_a_state_saved_before_packing_still_resumes() -> None:
    """Files from before states were packed (document version 1, plain states) are read as they are."""
    readings = _readings(1)
    running = _engine()
    for r in readings[:100]:
        running.process(r)
    document = running.anomaly_states()
    old = {
        "version": 1,
        "series": {key: {**saved, "state": unpack_state(saved["state"])} for key, saved in document["series"].items()},
    }
    restarted = _engine()
    assert restarted.restore_anomaly_states(json.loads(json.dumps(old))) == 1
    for r in readings[100:]:
        running.process(r)
        restarted.process(r)
        a = running._series[("counter-1", "traffic_count")].anomaly
        b = restarted._series[("counter-1", "traffic_count")].anomaly
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)
    assert b.n == a.n == len(readings)  # resumed, not started afresh


@pytest.mark.parametrize("damage", ["cut short", "wrong shape"])
def test_a_damaged_saved_state_costs_only_its_own_series(caplog, damage: str) -> None:
    """One series' saved state cut short (a disk error) or of the wrong shape (a hand edit): that
    series starts afresh, with a warning naming it; the reading is scored and the other series resume."""
    readings = _readings(1)
    running = _engine()
    for r in readings[:100]:
        running.process(r)
        running.process(r._replace(device_id="counter-2"))
    document = json.loads(json.dumps(running.anomaly_states()))
    damaged = document["series"]["counter-1\ttraffic_count"]
    if damage == "cut short":
        damaged["state"] = damaged["state"][:-20]
    else:
        damaged["state"] = pack_state({**unpack_state(damaged["state"]), "channels": []})

    restarted = _engine()
    assert restarted.restore_anomaly_states(document) == 2
    with caplog.at_level(logging.WARNING, logger="analytics.engine"):
        restarted.process(readings[100])
        restarted.process(readings[100]._replace(device_id="counter-2"))
    assert "counter-1 traffic_count unreadable" in caplog.text
    assert restarted._series[("counter-1", "traffic_count")].anomaly.n == 1  # afresh
    assert restarted._series[("counter-2", "traffic_count")].anomaly.n == 101  # resumed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not an object"),
        ({"version": 9, "series": {}}, "version 9"),
        ({"version": 2, "series": []}, 'no "series"'),
    ],
)
def test_a_state_document_of_the_wrong_shape_is_refused_with_a_clear_error(document: object, message: str) -> None:
    """The service logs it and starts from the warm-up (`AnalyticsService.load_anomaly_state` catches ValueError)."""
    with pytest.raises(ValueError, match=message):
        _engine().restore_anomaly_states(document)  # type: ignore[arg-type]

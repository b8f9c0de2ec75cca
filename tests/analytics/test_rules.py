"""Rules and the engine's decisions: air indices, thresholds per place, hysteresis, faulty devices."""

from __future__ import annotations

import pytest

from analytics.rules import RuleTracker, Thresholds, default_rules, load_thresholds
from citysense.settings import AnalyticsSettings
from citysense.wire import Reading
from tests.analytics.support import engine

T0 = 1_790_000_000_000
MIN = 60_000


def test_the_air_rule_opens_at_the_first_category_that_means_a_ticket():
    assert default_rules(AnalyticsSettings(air_index="us_aqi"))["pm25"].threshold == 55.5
    # ISPU 101 ("tidak sehat") is the first index that rounds to 101: 55.4 + 0.5 * 95 / 100.
    assert default_rules(AnalyticsSettings(air_index="ispu"))["pm25"].threshold == 55.875


def test_air_ticket_severity_is_the_category_of_the_city_index():
    air = default_rules(AnalyticsSettings(air_index="ispu"))["pm25"]
    assert air.severity(160.0, air.threshold) == "high"
    assert air.severity(300.0, air.threshold) == "critical"


def test_thresholds_per_device_win_over_district_over_default(tmp_path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("district:\n  riverside: {flood: 2.8}\ndevice:\n  river-2: {flood: 3.1}\n")
    thresholds = load_thresholds(path)
    flood = default_rules(AnalyticsSettings())["water_level"]
    assert thresholds.threshold(flood, district="riverside", device_id="river-1") == 2.8
    assert thresholds.threshold(flood, district="riverside", device_id="river-2") == 3.1
    assert thresholds.threshold(flood, district="hillside", device_id="hill-1") == 2.5


def test_a_thresholds_file_with_an_unknown_rule_is_refused_clearly(tmp_path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("district:\n  riverside: {floood: 2.8}\n")
    with pytest.raises(ValueError, match="unknown rules"):
        load_thresholds(path)


def test_hysteresis_needs_persistence_to_start_and_a_clear_drop_to_stop():
    flood = default_rules(AnalyticsSettings())["water_level"]
    tracker = RuleTracker()
    states = [tracker.update(flood, v, 2.5) for v in (2.6, 2.4, 2.6, 2.6, 2.45, 2.4, 2.34, 2.6)]
    # on after two in a row; stays on through 2.45 and 2.4 (above 2.35); off at 2.34; one reading is not enough.
    assert states == [False, False, False, True, True, True, False, False]


def test_engine_uses_the_thresholds_of_the_place():
    eng = engine()
    eng.config.thresholds.district["riverside"] = {"flood": 3.0}
    found = [f for i in range(3) for f in eng.process(Reading("river-1", "water_level", 2.8, T0 + i * MIN))]
    assert found == []
    found = [f for i in range(3) for f in eng.process(Reading("hill-1", "water_level", 2.8, T0 + i * MIN))]
    assert {f.detector for f in found} == {"rule:flood"}


def test_a_spike_is_kept_out_of_the_rules():
    eng = engine()
    base = [Reading("river-1", "water_level", 0.8, T0 + i * MIN) for i in range(30)]
    for r in base:
        assert eng.process(r) == []
    # One absurd reading, then normal again: no flood ticket, however high it was.
    assert eng.process(Reading("river-1", "water_level", 6.0, T0 + 30 * MIN)) == []
    assert eng.process(Reading("river-1", "water_level", 6.1, T0 + 31 * MIN)) == []
    assert eng.process(Reading("river-1", "water_level", 0.8, T0 + 32 * MIN)) == []


def test_a_level_that_really_moved_is_accepted_after_a_few_readings():
    eng = engine()
    for i in range(30):
        eng.process(Reading("river-1", "water_level", 0.8, T0 + i * MIN))
    found = [f for i in range(30, 36) for f in eng.process(Reading("river-1", "water_level", 3.2, T0 + i * MIN))]
    assert found
    assert found[0].detector == "rule:flood"


def test_a_device_with_a_wrong_clock_is_reported_on_the_receivers_time():
    eng = engine()
    found = []
    for i in range(5):
        now = T0 + i * MIN
        found += eng.process(Reading("air-1", "pm25", 20.0, now + 1_800_000), received_ms=now)
    (first, *_) = [f for f in found if f.detector == "clock_skew"]
    assert first.service_code == "device_fault"
    assert first.dedupe_key == "device_fault:riverside:air-1"
    assert first.time_ms == T0 + 2 * MIN  # the third skewed reading, on the receiver's clock


def test_silence_is_reported_once_a_device_misses_its_usual_interval_by_far():
    eng = engine()
    for i in range(20):
        eng.process(Reading("air-1", "pm25", 20.0, T0 + i * MIN))
    assert eng.tick(T0 + 30 * MIN) == []
    (silent,) = eng.tick(T0 + 40 * MIN)
    assert silent.detector == "silence"
    assert silent.device_id == "air-1"


def test_thresholds_default_is_empty():
    assert Thresholds().threshold(default_rules(AnalyticsSettings())["noise"], district="x", device_id="y") == 78.0


def test_after_a_restart_silence_is_counted_from_the_restart_not_from_history():
    eng = engine()
    for i in range(20):
        eng.process(Reading("air-1", "pm25", 20.0, T0 + i * MIN))
    restart = T0 + 24 * 60 * MIN  # analytics was down for most of a day
    eng.silence.restart(restart)
    assert eng.tick(restart + 10 * MIN) == []
    assert [f.device_id for f in eng.tick(restart + 16 * MIN)] == ["air-1"]


def _gauge_day(eng, *, rain_mm: float, drift_per_min: float) -> list:
    """14 flat hours, then 3 hours of a steady rise, with the district's rain gauge reporting beside it."""
    found = []
    for m in range(17 * 60):
        eng.process(Reading("rain-1", "rainfall", rain_mm if m >= 14 * 60 else 0.0, T0 + m * MIN))
        level = 0.8 + (m % 3) * 0.01 + max(0, m - 14 * 60) * drift_per_min
        found += eng.process(Reading("river-1", "water_level", round(level, 2), T0 + m * MIN))
    return found


def test_a_water_gauge_moving_in_dry_weather_is_a_drifting_sensor():
    found = _gauge_day(engine(), rain_mm=0.0, drift_per_min=0.002)
    assert {f.detector for f in found} == {"dry_weather_shift"}
    assert found[0].service_code == "device_fault"


def test_water_rising_in_the_rain_is_not_called_drift():
    found = _gauge_day(engine(), rain_mm=2.0, drift_per_min=0.002)
    assert [f for f in found if f.service_code == "device_fault"] == []

"""The engine's anomaly tickets on any quantity, taught by operators' false-alarm marks."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest

from analytics.anomaly import make_detector
from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.findings import Finding
from analytics.rules import default_rules
from citysense.settings import AnalyticsSettings
from citysense.wire import QUANTITIES, Reading, register_quantity
from tests.analytics.support import loud_by_day, river_level

T0_MS = 1_767_546_000_000  # 2026-01-05 00:00 Asia/Jakarta, a Monday
STEP_MS = 300_000  # a reading every five minutes
DAY = 288


def _engine() -> Engine:
    settings = AnalyticsSettings()
    config = EngineConfig.from_settings(settings)
    return Engine(config, lambda device_id: DeviceMeta(device_id, "kota-lama", "pump"))


def _day(
    engine: Engine, day: int, bump: float, rng: random.Random, quantity: str = "water_pressure", at: int = 120
) -> list[Finding]:
    """One day of a pump's pressure around 4 bar, `bump` added for two hours from reading `at` (10:00)."""
    found = []
    for i in range(DAY):
        value = 4.0 + rng.gauss(0, 0.05) + (bump if at <= i < at + 24 else 0.0)
        reading = Reading("pump-7", quantity, value, T0_MS + (day * DAY + i) * STEP_MS)
        found += [f for f in engine.process(reading) if f.service_code == "anomaly"]
    return found


@pytest.fixture
def water_pressure() -> Iterator[None]:
    """A quantity from configuration, gone again after the test (the registry is process-wide)."""
    register_quantity("water_pressure", "bar", 0.0, 20.0)
    yield
    QUANTITIES.pop("water_pressure", None)


def test_a_configured_quantity_gets_anomaly_tickets_one_per_device_and_quantity(water_pressure: None) -> None:
    assert "water_pressure" in QUANTITIES
    engine, rng = _engine(), random.Random(1)
    for day in range(7):
        assert _day(engine, day, 0.0, rng) == []  # a normal week opens nothing
    found = _day(engine, 7, 1.0, rng)
    assert found, "a 1-bar jump in a pump's pressure (20 sigma) opens an anomaly ticket"
    first = found[0]
    assert {f.dedupe_key for f in found} == {"anomaly:kota-lama:pump-7:water_pressure"}
    assert (first.kind, first.scope, first.public) == ("anomaly", "device", False)
    band = first.evidence["expected"]
    assert band["low"] < 4.0 < band["high"] < first.value
    assert first.evidence["deviation"] > 0.3
    assert len(first.evidence["window"]) == engine.config.evidence_window
    # Confirm count: the first finding comes on the third reading in a row at alarm, not the first.
    assert first.time_ms >= T0_MS + (7 * DAY + 120 + 2) * STEP_MS


def test_unregistered_quantity_is_scored_without_a_keyerror() -> None:
    engine, rng = _engine(), random.Random(2)
    for day in range(3):
        _day(engine, day, 0.0, rng, quantity="not_registered_here")
    assert _day(engine, 3, 1.0, rng, quantity="not_registered_here")


def test_false_alarm_mark_quiets_the_same_deviation_the_next_day_not_twice_it(water_pressure: None) -> None:
    rng = random.Random(3)
    taught, untaught = _engine(), _engine()
    for engine in (taught, untaught):
        for day in range(7):
            _day(engine, day, 0.0, random.Random(day))
    found = _day(taught, 7, 0.5, random.Random(7))
    _day(untaught, 7, 0.5, random.Random(7))
    assert found
    deviation = max(f.evidence["deviation"] for f in found)
    assert taught.teach("pump-7", "water_pressure", deviation)
    # The same deviation the next day (in the afternoon): no ticket; without the mark it would open one.
    assert _day(taught, 8, 0.5, random.Random(8), at=180) == []
    assert _day(untaught, 8, 0.5, random.Random(8), at=180)
    assert _day(taught, 9, 1.0, rng)  # twice its size still does


def test_a_mark_for_a_series_not_seen_yet_waits_for_it() -> None:
    engine = _engine()
    assert not engine.teach("pump-9", "water_pressure", 0.5)
    engine.process(Reading("pump-9", "water_pressure", 4.0, T0_MS))
    assert engine._series[("pump-9", "water_pressure")].anomaly._channels[""].tolerance == 0.5


def test_rules_still_open_their_own_tickets_not_anomaly_ones() -> None:
    """A flood is the flood rule's ticket; the anomaly detector stays out of it."""
    settings = AnalyticsSettings()
    engine = Engine(EngineConfig(rules=default_rules(settings)), lambda d: DeviceMeta(d, "riverside", "water"))
    rng = random.Random(4)
    codes = []
    for i in range(7 * DAY):
        engine.process(Reading("river-1", "water_level", 1.0 + rng.gauss(0, 0.01), T0_MS + i * STEP_MS))
    for i in range(7 * DAY, 7 * DAY + 20):
        codes += [f.service_code for f in engine.process(Reading("river-1", "water_level", 3.0, T0_MS + i * STEP_MS))]
    assert "flood" in codes
    assert "anomaly" not in codes


def test_a_device_whose_clock_is_off_gets_no_anomaly_ticket_for_its_time_of_day(water_pressure: None) -> None:
    """Readings stamped 20 minutes before they arrive: the clock fault is the ticket, not "unusual readings"."""
    on_time, skewed = _engine(), _engine()
    for day in range(7):
        for engine in (on_time, skewed):
            _day(engine, day, 0.0, random.Random(day))
    late_ms = 20 * 60_000
    found: dict[str, list[Finding]] = {"on_time": [], "skewed": []}
    rng = random.Random(7)
    for i in range(DAY):
        value = 4.0 + rng.gauss(0, 0.05) + (1.0 if 120 <= i < 144 else 0.0)
        time_ms = T0_MS + (7 * DAY + i) * STEP_MS
        reading = Reading("pump-7", "water_pressure", value, time_ms)
        found["on_time"] += [f for f in on_time.process(reading, received_ms=time_ms) if f.service_code == "anomaly"]
        found["skewed"] += skewed.process(reading, received_ms=time_ms + late_ms)
    assert found["on_time"], "the same jump on a device with a right clock opens an anomaly ticket"
    # The skewed device gets its clock fault ticket and nothing else.
    assert {(f.service_code, f.detector) for f in found["skewed"]} == {("device_fault", "clock_skew")}


def test_neighbours_unusual_at_once_are_the_world_not_an_anomaly_ticket(water_pressure: None) -> None:
    """Two pumps of one district jump together (the mains pressure changed): no anomaly ticket for
    either; one pump jumping alone, a day later, still gets its ticket."""
    engine, rng = _engine(), random.Random(5)

    def day(n: int, bumps: dict[str, float]) -> list[Finding]:
        found = []
        for i in range(DAY):
            for device in ("pump-7", "pump-8"):
                bump = bumps.get(device, 0.0) if 120 <= i < 144 else 0.0
                reading = Reading(
                    device, "water_pressure", 4.0 + rng.gauss(0, 0.05) + bump, T0_MS + (n * DAY + i) * STEP_MS
                )
                found += [f for f in engine.process(reading) if f.service_code == "anomaly"]
        return found

    for n in range(7):
        assert day(n, {}) == []
    assert day(7, {"pump-7": 1.0, "pump-8": 1.0}) == []
    assert engine.anomalies_in_common > 0
    alone = day(8, {"pump-8": 1.0})
    assert {f.device_id for f in alone} == {"pump-8"}


def test_a_ticket_waits_for_the_confirmation_time_at_alarm(water_pressure: None) -> None:
    """A two-hour jump opens a ticket after CITYSENSE_ANOMALY_CONFIRM_S at alarm (15 minutes by
    default), not at its third reading; asked for six hours, the same jump opens none."""

    def tickets(confirm_s: float) -> list[Finding]:
        config = EngineConfig.from_settings(AnalyticsSettings(anomaly_confirm_s=confirm_s))
        engine, rng = Engine(config, lambda d: DeviceMeta(d, "kota-lama", "pump")), random.Random(9)
        for day in range(7):
            assert _day(engine, day, 0.0, rng) == []
        return _day(engine, 7, 1.0, rng)

    found = tickets(900.0)
    assert found
    jump_ms = T0_MS + (7 * DAY + 120) * STEP_MS
    assert found[0].time_ms - jump_ms >= 900_000
    assert tickets(6 * 3600.0) == []


def test_neighbours_of_another_kind_measuring_the_same_quantity_share_a_common_cause(water_pressure: None) -> None:
    """A pump and a district meter both read the mains pressure: when both jump at once, that is the
    mains, not one device, and neither gets an anomaly ticket."""
    kinds = {"pump-7": "pump", "meter-3": "meter"}
    engine = Engine(EngineConfig.from_settings(AnalyticsSettings()), lambda d: DeviceMeta(d, "kota-lama", kinds[d]))
    rng = random.Random(12)
    found = []
    for n in range(8):
        for i in range(DAY):
            for device in kinds:
                bump = 1.0 if n == 7 and 120 <= i < 144 else 0.0
                value = 4.0 + rng.gauss(0, 0.05) + bump
                reading = Reading(device, "water_pressure", value, T0_MS + (n * DAY + i) * STEP_MS)
                found += [f for f in engine.process(reading) if f.service_code == "anomaly" and n == 7]
    assert found == []
    assert engine.anomalies_in_common > 0


def test_a_neighbour_whose_own_rule_explains_its_alarm_vetoes_nothing() -> None:
    """Two street lights: one goes out (its `lamp_out` rule opens a street-light ticket) while the
    other draws twice its power. The failed lamp is unusual too, but its rule explains why: that is
    no common cause, and the overdrawing lamp still gets its anomaly ticket."""
    engine = Engine(
        EngineConfig.from_settings(AnalyticsSettings()), lambda d: DeviceMeta(d, "kota-lama", "streetlight")
    )
    rng, found = random.Random(3), []
    for n in range(9):
        for i in range(DAY):
            for device in ("lamp-1", "lamp-2"):
                value = 100.0 * rng.gauss(1.0, 0.01)
                if n == 8 and 120 <= i < 168:
                    value = 0.2 if device == "lamp-1" else 200.0 * rng.gauss(1.0, 0.01)
                reading = Reading(device, "power", value, T0_MS + (n * DAY + i) * STEP_MS)
                found += [(f.device_id, f.service_code) for f in engine.process(reading)]
    assert ("lamp-1", "streetlight") in found
    assert ("lamp-2", "anomaly") in found
    assert ("lamp-1", "anomaly") not in found


def test_two_of_a_dozen_street_lights_overdrawing_the_same_evening_each_get_a_ticket() -> None:
    """Two lamps of a district's twelve draw twice their power the same evening: two devices to
    inspect, not the district's weather (before, each vetoed the other's ticket). When most of the
    district's lamps jump at once, that is the supply, and none gets an anomaly ticket."""
    lamps = [f"lamp-{k}" for k in range(12)]
    engine = Engine(
        EngineConfig.from_settings(AnalyticsSettings()), lambda d: DeviceMeta(d, "kota-lama", "streetlight")
    )
    rng, found = random.Random(4), {8: set(), 9: set()}
    for n in range(10):
        jumping = {8: lamps[:2], 9: lamps[2:10]}.get(n, [])
        for i in range(DAY):
            for device in lamps:
                value = 100.0 * rng.gauss(1.0, 0.01)
                if device in jumping and 120 <= i < 168:
                    value = 200.0 * rng.gauss(1.0, 0.01)
                reading = Reading(device, "power", value, T0_MS + (n * DAY + i) * STEP_MS)
                if n in found:
                    found[n] |= {f.device_id for f in engine.process(reading) if f.service_code == "anomaly"}
                else:
                    engine.process(reading)
    assert found[8] == {"lamp-0", "lamp-1"}
    assert found[9] == set()
    assert engine.anomalies_in_common > 0


def test_no_anomaly_ticket_when_a_lamp_the_rule_ticketed_comes_back() -> None:
    """A street light goes dark (its rule opens a street-light ticket) and is mended two hours
    later. The detector was at alarm all along, and lets go a few readings after the lamp is lit
    again, when the rule has already cleared: those readings are the same event, not an anomaly
    ticket at the moment of the repair (one per mended lamp in the simulated city before)."""
    engine = Engine(
        EngineConfig.from_settings(AnalyticsSettings()), lambda d: DeviceMeta(d, "kota-lama", "streetlight")
    )
    rng, found = random.Random(8), []
    for n in range(9):
        for i in range(DAY):
            value = 100.0 * rng.gauss(1.0, 0.01)
            if n == 8 and 120 <= i < 144:
                value = 0.15 + rng.uniform(0.0, 0.2)  # the driver's standby draw, nothing lit
            reading = Reading("lamp-1", "power", value, T0_MS + (n * DAY + i) * STEP_MS)
            found += [f.service_code for f in engine.process(reading) if n == 8]
    assert "streetlight" in found
    assert "anomaly" not in found


def test_neighbours_straying_half_as_far_share_the_cause_of_a_small_departure_not_a_large_one() -> None:
    """A shower raises every hygrometer of a district by one or two usual spreads while one of them,
    a little wetter, alarms at two and a half: the same weather, no ticket (before, only neighbours
    at two spreads or more counted). A lamp ten spreads out while its neighbours stray by one and a
    half is still a device to inspect."""
    engine = _engine()
    now = T0_MS + 10 * DAY * STEP_MS
    neighbours = {f"hygro-{k}": 1.5 for k in range(5)}
    engine._stray[("kota-lama", "humidity")] = {d: (now - 60_000, z) for d, z in neighbours.items()}
    meta = DeviceMeta("hygro-9", "kota-lama", "air")
    reading = Reading("hygro-9", "humidity", 97.0, now)
    assert engine._in_common(meta, reading, 2.5)
    assert not engine._in_common(meta, reading, 10.0)
    assert not engine._in_common(meta, reading, -2.5), "neighbours straying the other way share nothing"


def test_the_budget_interval_setting_reaches_every_series_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """`CITYSENSE_ANOMALY_BUDGET_INTERVAL_S` set by an operator is what the engine's detectors use:
    a series read every five minutes then alarms on five times the per-minute budget's fraction."""
    monkeypatch.setenv("CITYSENSE_ANOMALY_BUDGET_INTERVAL_S", "60")
    monkeypatch.setenv("CITYSENSE_ANOMALY_BUDGET", "0.0001")
    options = EngineConfig.from_settings(AnalyticsSettings()).detector_options()
    det = make_detector(**options)
    for i in range(40):
        det.update(1_767_546_000 + i * 300, 10.0 + i % 3)
    assert det.budget == pytest.approx(5e-4)
    monkeypatch.setenv("CITYSENSE_ANOMALY_BUDGET_INTERVAL_S", "0")
    assert EngineConfig.from_settings(AnalyticsSettings()).detector_options()["budget_interval"] is None


@pytest.mark.parametrize("run_view", [False, True])
def test_a_quiet_night_three_hours_above_itself_gets_a_ticket_with_the_run_view_setting(
    monkeypatch: pytest.MonkeyPatch, water_pressure: None, run_view: bool
) -> None:
    """`CITYSENSE_ANOMALY_RUN_VIEW` set by an operator reaches every series' detector: a sensor loud
    by day and quiet at night that reads three and a half night spreads high from one to four in
    the morning gets an anomaly ticket with it, and none without (no reading alone is rare enough)."""
    monkeypatch.setenv("CITYSENSE_ANOMALY_RUN_VIEW", str(run_view).lower())
    engine, rng = _engine(), random.Random(8)
    found = []
    for i in range(16 * DAY):
        day, hour = divmod(i * STEP_MS / 3_600_000, 24.0)
        inside = day == 15 and 1.0 <= hour < 4.0
        value = loud_by_day(hour, rng) + (1.75 if inside else 0.0)
        reading = Reading("pump-7", "water_pressure", value, T0_MS + i * STEP_MS)
        found += [(day, hour) for f in engine.process(reading) if f.service_code == "anomaly"]
    if run_view:
        assert found, "the night gets a ticket"
        assert all(day == 15 and 1.0 <= hour < 5.0 for day, hour in found), f"and only it: {found}"
    else:
        assert found == []


def test_a_flood_explains_its_districts_unusual_humidity_but_not_another_districts() -> None:
    """The storm behind a flood saturates its district's hygrometers: the flood ticket tells that
    story, and an "unusual readings" ticket on top would send someone to inspect a working sensor.
    The same rise in a district without a flood, or in the flooded district on a dry day, is still
    a device to inspect."""
    districts = {"river-hilir": "hilir", "hygro-hilir": "hilir", "river-hulu": "hulu", "hygro-hulu": "hulu"}
    engine = Engine(
        EngineConfig.from_settings(AnalyticsSettings()), lambda d: DeviceMeta(d, districts[d], d.split("-")[0])
    )
    rng, found = random.Random(5), {8: set(), 9: set()}
    for n in range(10):
        for i in range(DAY):
            flood = n == 8 and 110 <= i < 170
            wet = {8: ("hygro-hilir", "hygro-hulu"), 9: ("hygro-hilir",)}.get(n, ())
            for device in districts:
                if device.startswith("river"):
                    quantity = "water_level"
                    value = (3.4 if flood and device == "river-hilir" else 1.0) + rng.gauss(0, 0.02)
                else:
                    quantity = "humidity"
                    bump = 25.0 if device in wet and (120 if n == 8 else 200) <= i < (168 if n == 8 else 248) else 0.0
                    value = 70.0 + bump + rng.gauss(0, 1.0)
                reading = Reading(device, quantity, value, T0_MS + (n * DAY + i) * STEP_MS)
                codes = {(f.device_id, f.service_code) for f in engine.process(reading)}
                if n in found:
                    found[n] |= codes
    assert ("river-hilir", "flood") in found[8]
    assert ("hygro-hulu", "anomaly") in found[8]
    assert ("hygro-hilir", "anomaly") not in found[8]
    assert engine.anomalies_by_incident > 0
    assert ("hygro-hilir", "anomaly") in found[9]


@pytest.mark.parametrize("holds", [True, False])
def test_an_alarm_the_neighbours_shared_stays_theirs_to_its_end_when_asked(water_pressure: None, holds: bool) -> None:
    """Two pumps jump together (the mains): no ticket. One of them comes back after 45 minutes, the
    other stays up for two hours. With `CITYSENSE_ANOMALY_COMMON_HOLDS` the alarm that began as the
    mains' stays the mains' to its end (an operator is not sent to a pump because its neighbour
    settled first); without it, the pump left up gets its ticket once the neighbour's alarm is an
    hour old."""
    config = EngineConfig.from_settings(AnalyticsSettings(anomaly_common_holds=holds))
    engine, rng = Engine(config, lambda d: DeviceMeta(d, "kota-lama", "pump")), random.Random(5)

    def day(n: int, ends: dict[str, int]) -> set[str]:
        found = set()
        for i in range(DAY):
            for device in ("pump-7", "pump-8"):
                bump = 1.0 if 120 <= i < ends.get(device, 0) else 0.0
                value = 4.0 + rng.gauss(0, 0.05) + bump
                reading = Reading(device, "water_pressure", value, T0_MS + (n * DAY + i) * STEP_MS)
                found |= {f.device_id for f in engine.process(reading) if f.service_code == "anomaly"}
        return found

    for n in range(7):
        assert day(n, {}) == set()
    found = day(7, {"pump-7": 144, "pump-8": 129})
    assert engine.anomalies_in_common > 0
    assert found == (set() if holds else {"pump-7"})


@pytest.mark.parametrize("learn", [False, True])
def test_a_gauge_that_swings_the_evening_after_a_flood_gets_a_ticket_unless_the_flood_was_learned(learn: bool) -> None:
    """A river floods one morning (over the flood level for a few hours, rough with debris): the
    flood rule speaks for it. That evening the gauge starts swinging by a quarter of a metre every
    twelve minutes. With `CITYSENSE_ANOMALY_LEARN_INCIDENTS=false` (the default) the flood's
    readings were scored but not learned, the swing is as rare as on any day and opens an anomaly
    ticket; learned, the flood's steps had become the river's normal and the swing opens none."""
    config = EngineConfig.from_settings(AnalyticsSettings(anomaly_learn_incidents=learn))
    engine, rng = Engine(config, lambda d: DeviceMeta(d, "kota-lama", "water")), random.Random(12)
    flood, swing = range(10 * 1440 + 300, 10 * 1440 + 600), range(10 * 1440 + 900, 10 * 1440 + 1080)
    codes: dict[str, set[str]] = {"flood": set(), "swing": set()}
    for i in range(11 * 1440):
        level = river_level(i, rng, flood=flood, flood_height=1.6, swing=swing)
        found = engine.process(Reading("kota-lama-water-01", "water_level", level, T0_MS + i * 60_000))
        phase = "flood" if i in flood else "swing" if i in swing else ""
        if phase:
            codes[phase] |= {f.service_code for f in found}
    assert "flood" in codes["flood"]
    assert ("anomaly" in codes["swing"]) is not learn


@pytest.mark.parametrize("swings", [False, True])
def test_a_gauge_that_swings_while_its_neighbours_rise_is_not_their_story_when_asked(swings: bool) -> None:
    """Rain raises two of a district's rivers by half a metre for the afternoon (the world: no
    ticket for either); the third gauge starts swinging by a quarter of a metre every twelve
    minutes, its level where it always is. With `CITYSENSE_ANOMALY_COMMON_SWINGS` (the default) its
    alarm, which its volatility leads, is judged only against neighbours that swing too, and it gets
    a ticket; without, the rising neighbours' alarms veto it."""
    config = EngineConfig.from_settings(AnalyticsSettings(anomaly_common_swings=swings))
    engine, rng = Engine(config, lambda d: DeviceMeta(d, "kota-lama", "water")), random.Random(7)
    rise, swing = range(10 * 1440 + 900, 10 * 1440 + 1080), range(10 * 1440 + 930, 10 * 1440 + 1110)
    found: set[str] = set()
    for i in range(11 * 1440):
        for n in (1, 2, 3):
            level = 1.0 + 0.1 * n + 0.3 * math.sin(2 * math.pi * i / (12.4 * 60)) + rng.gauss(0, 0.02)
            if n > 1 and i in rise:
                level += 0.5 * min(1.0, (i - rise.start) / 30)
            if n == 1 and i in swing:
                level += 0.25 * math.sin(2 * math.pi * i / 12.0)
            reading = Reading(f"kota-lama-water-0{n}", "water_level", level, T0_MS + i * 60_000)
            found |= {f.device_id for f in engine.process(reading) if f.service_code == "anomaly"}
    # Judged apart, none of the swinging gauge's alarm readings is counted as the district's.
    assert (engine.anomalies_in_common > 0) is not swings
    assert found == ({"kota-lama-water-01"} if swings else set())


def _three_then_four_of_five(
    quantity: str, kind: str, base: float, loud: float, **settings: bool
) -> dict[int, set[str]]:
    """Five sensors of one district; on day 8 three of them, on day 9 four, read `loud` for four
    hours instead of `base`. The anomaly tickets each day opened."""
    sensors = [f"{kind}-{k}" for k in range(5)]
    config = EngineConfig.from_settings(AnalyticsSettings(**settings))
    engine = Engine(config, lambda d: DeviceMeta(d, "kota-lama", kind))
    rng, found = random.Random(4), {8: set(), 9: set()}
    for n in range(10):
        jumping = {8: sensors[:3], 9: sensors[:4]}.get(n, [])
        for i in range(DAY):
            for device in sensors:
                value = base * rng.gauss(1.0, 0.01)
                if device in jumping and 120 <= i < 168:
                    value = loud * rng.gauss(1.0, 0.01)
                anomalies = {
                    f.device_id
                    for f in engine.process(Reading(device, quantity, value, T0_MS + (n * DAY + i) * STEP_MS))
                    if f.service_code == "anomaly"
                }
                if n in found:
                    found[n] |= anomalies
    assert engine.anomalies_in_common > 0
    return found


@pytest.mark.parametrize(
    ("settings", "tickets"),
    [
        ({}, True),
        ({"anomaly_common_strict": False}, True),
        ({"anomaly_common_strict": False, "anomaly_common_strict_own": False}, False),
        ({"anomaly_common_strict": True, "anomaly_common_strict_own": False}, True),
    ],
    ids=["default", "strict-for-own-only", "half-is-the-world", "strict-for-all"],
)
def test_three_of_five_lamps_overdrawing_at_once_are_three_tickets(settings: dict[str, bool], tickets: bool) -> None:
    """Three of a district's five lamps draw twice their power the same evening. A lamp's power is
    its own (not the same air as its neighbours'), so the world needs more than half of them even
    when half is enough for shared quantities (`CITYSENSE_ANOMALY_COMMON_STRICT_OWN`) and each gets
    its ticket; with half enough for every quantity (the thirteenth round's default) none does. Four
    of five jumping at once is the supply either way."""
    lamps = {f"streetlight-{k}" for k in range(3)}
    found = _three_then_four_of_five("power", "streetlight", 100.0, 200.0, **settings)
    assert found[8] == (lamps if tickets else set())
    assert found[9] == set()


@pytest.mark.parametrize(
    ("settings", "tickets"),
    [({}, True), ({"anomaly_common_strict": False}, False), ({"anomaly_common_strict": True}, True)],
    ids=["default", "half-is-the-world", "strict"],
)
@pytest.mark.parametrize(
    ("quantity", "kind", "base", "loud"), [("noise", "noise", 50.0, 62.0), ("water_level", "water", 0.5, 0.8)]
)
def test_three_of_five_noise_sensors_or_gauges_at_once_are_the_districts_unless_the_veto_is_strict(
    quantity: str, kind: str, base: float, loud: float, settings: dict[str, bool], tickets: bool
) -> None:
    """Noise is the same street for every sensor of a district (a shared quantity), and one storm
    raises every river of it (weather-driven): with `CITYSENSE_ANOMALY_COMMON_STRICT` (the default)
    three of five unusual at once are three devices to inspect, and only without it the world."""
    found = _three_then_four_of_five(quantity, kind, base, loud, **settings)
    assert found[8] == ({f"{kind}-{k}" for k in range(3)} if tickets else set())
    assert found[9] == set()


def test_a_quantity_registered_without_bounds_scores_readings_of_any_size() -> None:
    """Ingest accepts anything in -1e300..1e300 for such a quantity; 1e200 overflowed the detector."""
    register_quantity("energy_j", "J", -1e300, 1e300)
    try:
        engine = _engine()
        for i in range(3 * DAY):
            value = 1e200 if i % 97 == 0 else 1e-200 if i % 89 == 0 else 5e6 + (i % 7)
            engine.process(Reading("meter-1", "energy_j", value, T0_MS + i * STEP_MS))
        assert engine.failed == 0
        assert engine.readings == 3 * DAY
    finally:
        QUANTITIES.pop("energy_j", None)


def test_a_reading_that_cannot_be_scored_is_skipped_logged_once_and_the_rest_go_on(
    water_pressure: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine, rng = _engine(), random.Random(4)
    for day in range(7):
        _day(engine, day, 0.0, rng)
    broken = engine._series[("pump-7", "water_pressure")].anomaly

    def fails(*args: object, **kwargs: object) -> float:  # a defect of one series' detector, injected
        raise ArithmeticError("injected")

    monkeypatch.setattr(broken, "update", fails)
    with caplog.at_level("ERROR", logger="analytics.engine"):
        assert _day(engine, 7, 1.0, rng) == []  # every reading of that series is skipped, none raises
    assert engine.failed == DAY
    assert len([r for r in caplog.records if "could not score pump-7 water_pressure" in r.message]) == 1
    # Another series of the same engine is scored as ever: its jump opens a ticket.
    for day in range(7):
        assert _day(engine, 8 + day, 0.0, random.Random(day), quantity="not_registered_here") == []
    assert _day(engine, 15, 1.0, random.Random(7), quantity="not_registered_here")


def _drain_and_rain(
    *, rain: bool, swing: bool, shower_at: int = 840, rain_ahead_ms: int = 0, **settings: bool
) -> set[str]:
    """A district with a rain gauge, a drain and a river, read every minute for eleven days, dry but
    for day 10: with `rain`, an hour's shower from minute `shower_at` of the day (14:00; the gauge
    reads 2 to 6 mm), and either way the drain rising by 0.3 m over ten minutes from 14:10 for two
    hours (the shower's, or a blockage backing water up on a dry day), or with `swing` swinging by a
    quarter of a metre every twelve minutes instead. The rain gauge's clock runs `rain_ahead_ms`
    ahead of the receiver's. The devices that got an anomaly ticket on day 10."""
    config = EngineConfig.from_settings(AnalyticsSettings(**settings))
    kinds = {"rain": "rain", "drain": "water", "river": "water"}
    engine = Engine(config, lambda d: DeviceMeta(d, "kota-lama", kinds[d.split("-")[0]]))
    rng, found = random.Random(21), set()
    shower, rise = range(10 * 1440 + shower_at, 10 * 1440 + shower_at + 60), range(10 * 1440 + 850, 10 * 1440 + 970)
    for i in range(11 * 1440):
        t = T0_MS + i * 60_000
        shower_mm = round(rng.uniform(2, 6), 1) if rain and i in shower else 0.0
        readings = [Reading("rain-1", "rainfall", shower_mm, t + rain_ahead_ms)]
        drain = 0.3 + rng.gauss(0, 0.01)
        if i in rise:
            drain += 0.25 * math.sin(2 * math.pi * i / 12.0) if swing else 0.3 * min(1.0, (i - rise.start) / 10)
        readings.append(Reading("drain-1", "water_level", drain, t))
        readings.append(Reading("river-1", "water_level", river_level(i, rng), t))
        for reading in readings:
            findings = engine.process(reading, received_ms=t)
            found |= {f.device_id for f in findings if f.service_code == "anomaly" and i >= 10 * 1440}
    return found


@pytest.mark.parametrize("explains", [False, True])
def test_a_drain_rising_in_its_districts_rain_is_the_rains_when_asked(explains: bool) -> None:
    """A drain fills within minutes of a shower while the district's river has not moved yet: with
    `CITYSENSE_ANOMALY_RAIN_EXPLAINS_RISE` that rise is the rain's, no ticket. The same rise on a dry
    day (a blockage) and a drain swinging in the rain are the drain's either way."""
    rain = {"anomaly_rain_explains_rise": explains}
    assert ("drain-1" in _drain_and_rain(rain=True, swing=False, **rain)) is not explains
    assert "drain-1" in _drain_and_rain(rain=False, swing=False, **rain)
    assert "drain-1" in _drain_and_rain(rain=True, swing=True, **rain)


def test_a_rain_gauge_whose_clock_runs_ahead_explains_no_drains_rise() -> None:
    """A morning shower, then a drain filling at 14:10 on a dry afternoon (a blockage): a ticket. The
    same with the rain gauge's clock six hours ahead, which stamps the shower in the afternoon:
    trusted, the district counted as rained on until real time caught up, and the blockage opened
    no ticket. A time the receiver disputes says nothing of when it rained."""
    assert "drain-1" in _drain_and_rain(rain=True, swing=False, shower_at=540)
    assert "drain-1" in _drain_and_rain(rain=True, swing=False, shower_at=540, rain_ahead_ms=6 * 3600 * 1000)


def _storm_and_swing(*, storm: bool, **settings: bool) -> set[str]:
    """A district's weather station and four air sensors read humidity every five minutes for nine
    days. On day 8 the station's hygrometer swings by 8 % every ten readings from 10:00 for four
    hours; with `storm`, in the same hours a storm raises every sensor's humidity by 6 %, the
    station's too. The devices that got an anomaly ticket on day 8."""
    config = EngineConfig.from_settings(AnalyticsSettings(**settings))
    engine = Engine(config, lambda d: DeviceMeta(d, "kota-lama", d.split("-")[0]))
    sensors = ["weather-1", *(f"air-{k}" for k in range(4))]
    rng, found = random.Random(5), set()
    for n in range(9):
        for i in range(DAY):
            wet = n == 8 and 120 <= i < 168
            for device in sensors:
                hour = (i * 5 / 60) % 24
                value = 70.0 - 10.0 * math.sin(2 * math.pi * (hour - 8) / 24) + rng.gauss(0, 1.0)
                if wet and storm:
                    value += 6.0 * min(1.0, (i - 120) / 3)
                if wet and device == "weather-1":
                    value += 8.0 if (i // 5) % 2 else -8.0
                reading = Reading(device, "humidity", value, T0_MS + (n * DAY + i) * STEP_MS)
                found |= {f.device_id for f in engine.process(reading) if f.service_code == "anomaly" and n == 8}
    return found


@pytest.mark.parametrize("swings_weather", [True, False])
def test_a_station_swinging_in_a_storm_that_moves_every_neighbour_is_the_storms_when_asked(
    swings_weather: bool,
) -> None:
    """A storm's humidity swings one precise hygrometer and raises every air sensor of its district
    alike. With `CITYSENSE_ANOMALY_COMMON_SWINGS_WEATHER` off, the swinging station is judged
    against those departing neighbours too: the storm's, no ticket. The same swing on a calm day is
    the station's either way."""
    setting = {"anomaly_common_swings_weather": swings_weather}
    assert ("weather-1" in _storm_and_swing(storm=True, **setting)) is swings_weather
    assert "weather-1" in _storm_and_swing(storm=False, **setting)

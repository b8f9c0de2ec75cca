"""Ground truth: incidents are what the true world did, faults and anomalies what was injected; all visible."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import pairwise
from statistics import mean, median

import pytest

from analytics.rules import default_rules
from citysense.settings import AnalyticsSettings
from citysense.wire import QUANTITIES
from simulators.city import default_city
from simulators.episodes import RULE_LIMITS, EpisodeTracker
from simulators.scenario import (
    ANOMALY_KINDS,
    FAULT_KINDS,
    INCIDENT_KINDS,
    Anomaly,
    Fault,
    Incident,
    Plan,
    RandomPlan,
    Scenario,
)
from simulators.season import season_at
from simulators.truth import resolve
from simulators.weather import Environment
from tests.simulators.support import MONDAY, run_in_memory, series

DAY = 86_400.0
VISIBLE_LEVEL = {"flood": 2.5, "pollution": 55.5, "bin_overflow": 98.0}


def one_of_everything(*, faults: bool) -> Scenario:
    return Scenario(
        name="everything",
        incidents=[
            Incident(kind="flood", district="sungai-barat", start_s=36_000, duration_s=14_400, peak=3.1),
            Incident(
                kind="pollution", district="industri-timur", start_s=20_000, duration_s=10_800, cause="industrial"
            ),
            Incident(
                kind="pollution", district="kota-lama", start_s=25_000, duration_s=7_200, peak=80, cause="traffic_jam"
            ),
            Incident(kind="bin_overflow", district="pelabuhan", start_s=30_000, duration_s=36_000),
            Incident(kind="streetlight_failure", district="taman-sari", start_s=64_800, duration_s=18_000),
            Incident(kind="noise_complaint", district="kota-lama", start_s=79_200, duration_s=7_200, peak=86),
        ],
        faults=[
            Fault(kind="stuck", device="bukit-hijau-air-02", start_s=10_000, duration_s=20_000),
            Fault(kind="drift", device="pelabuhan-air-03", start_s=5_000, duration_s=60_000),
            Fault(kind="spikes", device="kota-lama-noise-02", start_s=30_000, duration_s=20_000, magnitude=0.1),
            Fault(kind="silence", device="taman-sari-water-02", start_s=40_000, duration_s=7_200),
            Fault(kind="battery_death", device="sungai-barat-rain-03", start_s=50_000),
            Fault(
                kind="clock_skew",
                device="industri-timur-traffic-02",
                start_s=20_000,
                duration_s=20_000,
                magnitude=1_800,
            ),
        ]
        if faults
        else [],
        random=RandomPlan(incidents_per_day=6, faults_per_day=6 if faults else 0),
    )


def test_truth_holds_the_worlds_incidents_and_the_injected_faults_and_anomalies_each_visible_in_the_readings():
    readings, summary = run_in_memory(one_of_everything(faults=True), until_s=DAY, seed=5)
    # The same run without faults: what each faulty device would have said.
    clean, _ = run_in_memory(one_of_everything(faults=False), until_s=DAY, seed=5)
    data, baseline = series(readings), series(clean)
    incidents = [r for r in summary.truth if r.category == "incident"]
    # Every injected incident drove its true quantity over the rule's limit: each is an incident in truth.
    causes = {r.planned for r in incidents}
    assert {f"cause-{n:03d}" for n in range(1, 7)} <= causes
    assert {r.kind for r in summary.truth} >= {
        "flood", "pollution", "bin_overflow", "streetlight_failure", "noise_complaint",
        "stuck", "drift", "spikes", "silence", "battery_death", "clock_skew",
    }  # fmt: skip
    assert any(r.source == "random" for r in summary.truth)

    for record in summary.truth:
        (quantity, *_) = record.quantities
        start, end = record.start_ms, record.end_ms
        assert end is not None
        assert end >= start
        assert record.devices, record

        def inside(device, q=quantity, source=data, lo=start, hi=end):
            return [v for t, v in source.get((device, q), []) if lo <= t <= hi]

        seen = [v for device in record.devices for v in inside(device)]
        if record.kind in VISIBLE_LEVEL:
            # The readings carry noise and gain: at the limit give or take a few percent.
            assert max(seen) >= VISIBLE_LEVEL[record.kind] * 0.95, record
        elif record.kind == "streetlight_failure":
            assert median(seen) <= 1.0, record  # its last reading is the lamp lit again
        elif record.kind == "noise_complaint":
            assert max(seen) >= 76, record
        else:
            (device,) = record.devices
            _check_fault(record, device, data, baseline)
        assert record.expected_ticket == {
            "flood": "flood",
            "pollution": "air_quality",
            "bin_overflow": "waste_bin",
            "streetlight_failure": "streetlight",
            "noise_complaint": "noise",
        }.get(record.kind, "device_fault")

    # A flood's crest is not a flat line: the readings over the flood level wander.
    (flood,) = [r for r in incidents if r.kind == "flood" and r.planned == "cause-001"]
    crest = [v for d in flood.devices for t, v in data.get((d, "water_level"), []) if v >= 2.5]
    assert len(set(crest)) > 10


def test_a_sensor_drifting_over_the_flood_level_is_a_fault_and_no_flood_in_truth():
    # Dry season (few storms): a river gauge drifts up by 3 m a day; its readings cross 2.5 m, the river does not.
    august = datetime.fromisoformat("2026-08-03T00:00:00+07:00").timestamp()
    scenario = Scenario(
        name="drift",
        faults=[Fault(kind="drift", device="bukit-hijau-water-01", start_s=3_600, duration_s=40_000, magnitude=6.0)],
    )
    readings, summary = run_in_memory(scenario, until_s=DAY / 2, seed=3, devices=60, start=august)  # drifts up
    levels = [r.value for r in readings if r.device_id == "bukit-hijau-water-01"]
    assert max(levels) > 2.6
    assert [r.kind for r in summary.truth if r.category == "fault"] == ["drift"]
    assert not [r for r in summary.truth if r.kind == "flood"]


def test_an_episode_is_the_true_value_over_the_limit_for_the_confirm_count_until_it_clears():
    tracker = EpisodeTracker()
    river = [2.4, 2.6, 2.4, 2.55, 2.7, 2.9, 2.45, 2.3, 2.2]  # one reading over is not enough; two are
    for minute, level in enumerate(river):
        tracker.observe("w-01", "d", minute * 60.0, {"water_level": level})
    (episode,) = tracker.episodes
    assert (episode.kind, episode.start_s, episode.end_s, episode.peak) == ("flood", 180.0, 420.0, 2.9)
    # Back over the limit within the hour: the same incident, now with a second gauge of the district.
    for minute, level in enumerate([2.6, 2.6, 2.2], start=30):
        tracker.observe("w-02", "d", minute * 60.0, {"water_level": level})
    assert len(tracker.episodes) == 1
    assert tracker.episodes[0].devices == ["w-01", "w-02"]
    assert tracker.episodes[0].end_s == 32 * 60.0
    # A lamp is out when it draws at most 0.5 W, per device.
    for minute, power in enumerate([120.0, 0.3, 0.2, 0.3, 118.0]):
        tracker.observe("l-01", "d", minute * 300.0, {"power": power})
    assert [e.kind for e in tracker.episodes] == ["flood", "streetlight_failure"]


def test_the_truths_rule_limits_are_the_rules_defaults():
    rules = default_rules(AnalyticsSettings())
    for quantity, limit in RULE_LIMITS.items():
        rule = rules[quantity]
        assert (limit.limit, limit.confirm, limit.direction, limit.scope) == (
            rule.threshold, rule.persist, rule.direction, rule.scope,
        ), quantity  # fmt: skip
        assert limit.clear == pytest.approx(rule.clear)


def test_a_plan_places_its_count_of_every_kind_never_two_at_once_on_one_device():
    city = default_city()
    events = resolve(Scenario(name="p", plan=Plan(per_kind=5)), city, city.devices, seed=1,
                     start_time=MONDAY, horizon_s=4 * DAY)  # fmt: skip
    kinds = Counter(e.kind for e in events)
    assert all(kinds[k] == 5 for k in FAULT_KINDS + ANOMALY_KINDS + INCIDENT_KINDS), kinds
    spans: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e.category != "incident" or e.kind in ("bin_overflow", "streetlight_failure"):
            (device,) = e.devices
            spans.setdefault(device, []).append((e.start_s, e.end_s if e.end_s is not None else 4 * DAY))
    for device, times in spans.items():
        ordered = sorted(times)
        assert all(a[1] <= b[0] for a, b in pairwise(ordered)), device
    assert all(e.start_s >= DAY for e in events)
    # A blocked road in a weekday morning rush; loud noise in the small hours.
    for event in events:
        hour = ((MONDAY + event.start_s) / 3600 + 7) % 24
        if event.kind == "traffic_collapse":
            assert 6.5 <= hour <= 7.5
            assert int(event.start_s // DAY) % 7 < 5
        if event.kind == "night_noise":
            assert 2 <= hour <= 3.5


def test_the_wet_season_brings_storms_and_high_water_and_the_dry_season_haze():
    wet = datetime.fromisoformat("2026-01-12T00:00:00+07:00").timestamp()
    dry = datetime.fromisoformat("2026-08-17T00:00:00+07:00").timestamp()
    rain, haze = {}, {}
    for name, start in (("wet", wet), ("dry", dry)):
        env, daily = Environment(default_city(), 3, start, []), []
        for day in range(1, 15):
            env.advance(start + day * DAY)
            daily.append(env.districts["kota-lama"].regional_pm)
        rain[name] = sum(w.rain_total_mm for w in env.districts.values())
        haze[name] = mean(daily)
    assert rain["wet"] > 2 * rain["dry"]
    assert haze["dry"] > 1.3 * haze["wet"]
    assert season_at(wet, 7).name == "wet"
    assert season_at(dry, 7).name == "dry"


def _check_fault(record, device, data, baseline):
    start, end = record.start_ms, record.end_ms
    for quantity in record.quantities:
        got = [(t, v) for t, v in data.get((device, quantity), []) if start <= t <= end]
        want = [(t, v) for t, v in baseline[(device, quantity)] if start <= t <= end]
        assert want, record
        if record.kind in ("silence",):
            assert got == [], record
        elif record.kind == "battery_death":
            assert not [t for t, _ in got if t > start + 3_600_000], record
            assert len(got) < len(want), record
        elif record.kind == "stuck":
            assert len({v for _, v in got}) == 1, record
            assert len(got) == len(want), record
        elif record.kind == "drift":
            gap = abs(got[-1][1] - want[-1][1])
            assert gap > 0.5 * (end - start) / 86_400_000 * _drift_per_day(quantity) - 1, record
        elif record.kind == "spikes":
            ceiling = QUANTITIES[quantity].maximum  # a spike is clipped at the sensor's range
            assert max(v for _, v in got) > min(2.5 * max(median(v for _, v in want), 1), 0.99 * ceiling), record
        elif record.kind == "clock_skew":
            shift = round(record.level * 1000)
            skewed = {t for t, _ in data[(device, quantity)]}
            assert {t + shift for t, _ in want} <= skewed, record


def _drift_per_day(quantity: str) -> float:
    from simulators.truth import DRIFT_PER_DAY

    return DRIFT_PER_DAY[quantity]


def test_an_anomalys_truth_says_how_much_it_changed_so_a_miss_with_nothing_to_find_shows():
    """A lamp drawing twice its power by day, while it is off, and a night-time source of smoke over
    a window with no night in it change nothing; the same at night change a lot. Scoring still counts
    all four; the truth's `effect` tells the misses with nothing to find from the detector's own."""
    hour = 3600.0
    scenario = Scenario(
        name="effects",
        anomalies=[
            Anomaly(kind="lamp_overdraw", device="taman-sari-streetlight-01", start_s=10 * hour, duration_s=4 * hour),
            Anomaly(kind="lamp_overdraw", device="taman-sari-streetlight-02", start_s=19 * hour, duration_s=4 * hour),
            Anomaly(kind="pattern_change", device="kota-lama-air-01", start_s=10 * hour, duration_s=6 * hour),
            Anomaly(kind="pattern_change", device="kota-lama-air-02", start_s=22 * hour, duration_s=6 * hour),
        ],
    )
    _, summary = run_in_memory(scenario, until_s=DAY + 6 * hour, seed=3)
    effect = {r.devices[0]: r.effect for r in summary.truth if r.category == "anomaly"}
    assert effect["taman-sari-streetlight-01"] == 0.0  # ten to two in the day: the lamp is off
    assert effect["taman-sari-streetlight-02"] > 20.0  # seven to eleven at night: lit, and doubled
    assert effect["kota-lama-air-01"] < 0.5  # ten to four in the day: the night-time source adds ~nothing
    assert effect["kota-lama-air-02"] > 3.0  # ten at night to four in the morning
    assert all(r.effect is None for r in summary.truth if r.category != "anomaly")

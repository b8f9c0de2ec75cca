"""The generated data looks like a city: daily and weekly cycles, rain that raises the water."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from statistics import mean

from simulators.scenario import Scenario
from tests.simulators.support import MONDAY, local_hour, run_in_memory, series

DAY = 86_400.0


def _by_hours(points, hours, *, weekend: bool | None = None):
    picked = []
    for t, v in points:
        day = int((t / 1000 - MONDAY) // DAY)  # 0 = Monday
        if weekend is not None and (day >= 5) != weekend:
            continue
        if hours[0] <= local_hour(t) < hours[1]:
            picked.append(v)
    return picked


def test_daily_and_weekly_cycles_rush_hours_quiet_nights_afternoon_heat_and_lights_at_night():
    # Friday to Sunday: two weekday-ish days and a weekend day, every device.
    friday = MONDAY + 4 * DAY
    readings, _ = run_in_memory(Scenario(name="calm"), until_s=3 * DAY, start=friday, seed=3)
    data = series(readings)

    def pooled(quantity, kind, hours, weekend=None):
        return [v for (dev, q), pts in data.items() if q == quantity and f"-{kind}-" in dev
                for v in _by_hours(pts, hours, weekend=weekend)]  # fmt: skip

    # Traffic: weekday morning rush is many times the night; weekend mornings are quieter than weekdays.
    rush = mean(pooled("traffic_count", "traffic", (7, 9), weekend=False))
    night = mean(pooled("traffic_count", "traffic", (1, 4)))
    weekend_morning = mean(pooled("traffic_count", "traffic", (7, 9), weekend=True))
    assert rush > 5 * night
    assert weekend_morning < 0.6 * rush
    # Noise: nights at least 10 dB quieter than the evening rush.
    assert mean(pooled("noise", "noise", (17, 19), weekend=False)) - mean(pooled("noise", "noise", (1, 4))) > 10
    # Heat: afternoons at least 4 degrees warmer than the early morning; humidity the other way round.
    afternoon = mean(pooled("temperature", "weather", (13, 16)))
    dawn = mean(pooled("temperature", "weather", (4, 6)))
    assert afternoon - dawn > 4
    assert mean(pooled("humidity", "weather", (4, 6))) > mean(pooled("humidity", "weather", (13, 16))) + 5
    # Streetlights draw power at night and almost nothing by day (but for a rare garbled reading).
    night, day = pooled("power", "streetlight", (20, 23)), pooled("power", "streetlight", (9, 16))
    assert sum(v > 50 for v in night) > 0.995 * len(night)
    assert sum(v < 5 for v in day) > 0.995 * len(day)
    # Bins fill up and are emptied on their district's schedule (Bukit Hijau: Mondays and Thursdays only).
    bins = {dev: pts for (dev, q), pts in data.items() if q == "bin_fill"}
    emptied = {dev for dev, pts in bins.items() if any(b[1] <= 6 < a[1] - 4 for a, b in pairwise(pts))}
    assert not any(dev.startswith("bukit-hijau") for dev in emptied)
    assert len(emptied) > 0.75 * len(bins)
    assert all(pts[-1][1] > pts[0][1] for dev, pts in bins.items() if dev.startswith("bukit-hijau"))


def test_rain_raises_rivers_and_drains_with_a_lag_and_a_recession():
    # Seed 4 brings natural afternoon storms in the first three days (no scenario incident at all).
    # A transition month (October): storms with dry spells between them, so each recession shows.
    october = datetime.fromisoformat("2026-10-05T00:00:00+07:00").timestamp()
    readings, _ = run_in_memory(Scenario(name="calm"), until_s=3 * DAY, seed=4, start=october)
    data = series(readings)
    storms = 0
    for district in ("kota-lama", "pelabuhan", "sungai-barat", "industri-timur", "taman-sari", "bukit-hijau"):
        rain = data[(f"{district}-rain-01", "rainfall")]
        river = dict(data[(f"{district}-water-01", "water_level")])
        drain = dict(data[(f"{district}-water-02", "water_level")])
        wettest = max(rain, key=lambda p: p[1])
        if wettest[1] < 0.2:  # less than 12 mm/h at its heaviest: not a storm here
            continue
        if any(v > 0 for t, v in rain if wettest[0] + 3_600_000 < t <= wettest[0] + 8 * 3_600_000):
            continue  # another storm soon after: no clean recession to look at
        if any(v > 0 for t, v in rain if wettest[0] - 6 * 3_600_000 <= t < wettest[0] - 3_600_000):
            continue  # the water was still up from an earlier storm
        storms += 1
        t_rain = wettest[0]
        before = river.get(t_rain - 3_600_000, min(river.values()))
        # The drain peaks first (minutes), the river later (an hour or more), both above their dry level...
        # (Readings carry short radio gaps: compare the minutes both gauges reported.)
        window = [t for t in river if t in drain and t_rain - 3_600_000 <= t <= t_rain + 6 * 3_600_000]
        river_peak = max(window, key=lambda t: river[t])
        # (Peaks are where the level first comes within 2 cm of its top: a crest carries noise.)
        fast = [t for t in window if t <= t_rain + 3_600_000]  # a drain answers within the hour
        drain_top = max(drain[t] for t in fast)
        drain_peak = min(t for t in fast if drain[t] >= drain_top - 0.02)
        assert river[river_peak] > before + 0.1
        assert drain_peak < river_peak
        assert river_peak - t_rain >= 30 * 60_000
        # ...and the river recedes slowly: two hours after its peak it is still above where it started.
        later = next((river[t] for t in range(river_peak + 2 * 3_600_000, river_peak + 2 * 3_660_000, 60_000)
                      if t in river), None)  # fmt: skip
        assert later is None or before < later < river[river_peak]
    assert storms >= 3

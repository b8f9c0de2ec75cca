"""The city's weather and water: temperature, humidity, storms and the rivers and drains they fill.

One `Environment` per run, advanced in fixed one-minute steps from the start, so every device
reads the same world whatever its reporting period, and the same seed gives the same weather.
Storms are convective cells (mostly in the afternoon, as in the tropics) with a centre and a
radius, so neighbouring districts get correlated rain; the season (`simulators.season`) sets how
often they form and how heavy they are. Water levels follow the rain through two linear
reservoirs: they rise with a lag and fall back slowly (the recession). Nothing holds ordinary water
below the flood level: a heavy wet-season storm can take a river over it without any scenario.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from simulators.city import City, distance_km
from simulators.season import Season, season_at
from simulators.truth import Event

__all__ = ["STEP_S", "Environment"]

STEP_S = 60.0
# Reservoir time constants (s) and metres of level per mm of routed water, per gauge variant.
_HYDRO: dict[str, tuple[float, float, float]] = {"river": (1800.0, 3600.0, 0.06), "drain": (300.0, 900.0, 0.08)}
# Where ordinary water saturates (the banks overflow into the floodplain): above the flood level
# (2.5 m), so heavy ordinary rain can cross it.
_NATURAL_WATER_MAX_M = 3.3


@dataclass(slots=True)
class _Storm:
    lat: float
    lon: float
    radius_km: float
    peak_mm_h: float
    start: float
    duration_s: float

    def rate(self, t: float, km: float) -> float:
        age = t - self.start
        if age < 0 or age > self.duration_s:
            return 0.0
        return self.peak_mm_h * math.sin(math.pi * age / self.duration_s) * math.exp(-((km / self.radius_km) ** 2))


@dataclass(slots=True)
class DistrictWeather:
    """What a district's devices read from the world at the current step."""

    temperature: float = 27.0
    humidity: float = 80.0
    rain_mm_h: float = 0.0
    rain_total_mm: float = 0.0  # cumulative since the start: rain gauges difference it
    wet_fast: float = 0.0  # rain of the last hour or so (mm): cooling, wet roads
    wet_slow: float = 0.0  # rain of the last half-day (mm): PM washout
    pm_factor: float = 1.0  # the district's slowly wandering air-quality factor
    regional_pm: float = 1.0  # the city's hazy or clean spell, shared by every district
    base_water_m: float = 0.0  # the season's change to every gauge's dry-weather level
    store: dict[str, list[float]] = field(default_factory=lambda: {v: [0.0, 0.0] for v in _HYDRO})

    def water_rise(self, variant: str) -> float:
        """Metres above the dry-weather level for a gauge of this variant (before saturation)."""
        return _HYDRO[variant][2] * self.store[variant][1]


class Environment:
    def __init__(self, city: City, seed: int, start_time: float, events: list[Event]) -> None:
        self.city = city
        self.start_time = start_time
        self._rng = random.Random(f"{seed}:weather")
        self._t = start_time
        self._storms: list[_Storm] = []
        self._floods = [e for e in events if e.kind == "flood" and e.incident is not None]
        self._temp_anomaly = 0.0
        self._regional_pm = 1.0
        self.season: Season = season_at(start_time, city.utc_offset_h)
        self._season_t = start_time
        self.districts = {d.slug: DistrictWeather() for d in self.city.districts}
        centre = (
            sum(d.lat for d in city.districts) / len(city.districts),
            sum(d.lon for d in city.districts) / len(city.districts),
        )
        self._centre = centre
        self._neighbours = {
            a.slug: [
                b.slug for b in city.districts if b.slug != a.slug and distance_km((a.lat, a.lon), (b.lat, b.lon)) < 5
            ]
            for a in city.districts
        }
        self._step(start_time, 0.0)

    def local_hour(self, t: float) -> float:
        return ((t / 3600.0) + self.city.utc_offset_h) % 24.0

    def weekday(self, t: float) -> int:
        """0 = Monday, in local time."""
        return int(((t / 3600.0 + self.city.utc_offset_h) // 24 + 3) % 7)  # 1970-01-01 was a Thursday

    def advance(self, now: float) -> None:
        while self._t + STEP_S <= now:
            self._t += STEP_S
            self._step(self._t, STEP_S)

    def rain_total(self, district: str, now: float) -> float:
        """Cumulative rain (mm) at `now`, interpolated within the current step."""
        weather = self.districts[district]
        return weather.rain_total_mm + weather.rain_mm_h * max(0.0, min(now - self._t, STEP_S)) / 3600.0

    def _flood_rain(self, district: str, t: float) -> float:
        """Heavy rain a scenario's flood brings: from its start until its water has risen."""
        rain = 0.0
        for event in self._floods:
            incident = event.incident
            assert incident is not None
            elapsed = t - self.start_time - event.start_s
            if 0 <= elapsed <= incident.delay_s + incident.rise_s:
                if event.district == district:
                    rain += incident.rain_mm_h
                elif district in self._neighbours[event.district]:
                    rain += incident.rain_mm_h * 0.4
        return rain

    def _step(self, t: float, dt: float) -> None:
        rng = self._rng
        hour = self.local_hour(t)
        if t - self._season_t >= 3600:
            self.season, self._season_t = season_at(t, self.city.utc_offset_h), t
        season = self.season
        # Convective storms: a few a week, mostly between 14:00 and 19:00, far more in the wet season.
        per_hour = (0.008 + 0.18 * math.exp(-(((hour - 16.0) / 2.5) ** 2))) * season.storms
        if dt and rng.random() < per_hour * dt / 3600.0:
            self._storms.append(
                _Storm(
                    lat=self._centre[0] + rng.gauss(0, 0.03),
                    lon=self._centre[1] + rng.gauss(0, 0.03),
                    radius_km=rng.uniform(2.0, 6.0),
                    peak_mm_h=min(70.0, rng.lognormvariate(math.log(12.0), 0.6) * season.storm_peak),
                    start=t,
                    duration_s=rng.uniform(20, 120) * 60,
                )
            )
        self._storms = [s for s in self._storms if t - s.start <= s.duration_s]
        # Slow city-wide wanderings: a warm or cool spell, a hazy or clean week (AR(1), days).
        self._temp_anomaly = 0.999 * self._temp_anomaly + rng.gauss(0, 0.045)
        self._regional_pm = max(0.6, min(1.4, 1 + 0.9995 * (self._regional_pm - 1) + rng.gauss(0, 0.006)))
        for district in self.city.districts:
            weather = self.districts[district.slug]
            jitter = max(0.5, rng.gauss(1.0, 0.12))
            rain = sum(s.rate(t, distance_km((district.lat, district.lon), (s.lat, s.lon))) for s in self._storms)
            rain = rain * jitter + self._flood_rain(district.slug, t)
            weather.rain_mm_h = rain if rain > 0.05 else 0.0
            mm = weather.rain_mm_h * dt / 3600.0
            weather.rain_total_mm += mm
            weather.wet_fast = weather.wet_fast * math.exp(-dt / 3600.0) + mm
            weather.wet_slow = weather.wet_slow * math.exp(-dt / 21_600.0) + mm
            for variant, (k1, k2, _) in _HYDRO.items():
                s1, s2 = weather.store[variant]
                out1, out2 = s1 * dt / k1, s2 * dt / k2
                weather.store[variant] = [s1 + mm - out1, s2 + out1 - out2]
            mean = 27.5 + district.profile.heat_offset_c + self._temp_anomaly
            cooling = 3.0 * min(1.0, weather.wet_fast / 6.0)
            weather.temperature = mean + 3.8 * math.cos(2 * math.pi * (hour - 14.0) / 24.0) - cooling
            weather.humidity = max(
                40.0, min(100.0, 78 - 3.2 * (weather.temperature - 27.5) + 14 * min(1.0, weather.wet_fast / 5.0))
            )
            weather.pm_factor = max(0.5, min(1.6, 1 + 0.998 * (weather.pm_factor - 1) + rng.gauss(0, 0.01)))
            weather.regional_pm = self._regional_pm * season.haze
            weather.base_water_m = season.base_water_m


def natural_water(base_m: float, rise_m: float) -> float:
    """The dry-weather level plus the routed rise, saturating where the banks overflow (above the flood level)."""
    span = max(_NATURAL_WATER_MAX_M - base_m, 0.1)
    return base_m + span * math.tanh(rise_m / span)

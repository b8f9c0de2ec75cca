"""What each quantity is like, for the detectors: its resolution, how fast it can really move, its ceiling.

These are physical facts about sensors and cities, not tuning against one data set: PM2.5 does not
jump by 50 ug/m3 in a minute without smoke rolling in over several readings, a river does not rise
half a metre between two readings, a street light does not draw two kilowatts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PROFILES", "QuantityProfile", "profile_of"]


@dataclass(frozen=True, slots=True)
class QuantityProfile:
    floor: float  # the smallest spread believed (about the sensor's resolution)
    max_step: float  # the largest plausible change from the recent level to the next reading
    ceiling: float = math.inf  # above this a value is physically implausible for a city sensor
    up_only: bool = False  # falls may be instant (a bin is emptied), rises may not
    drift_floor: float = 10.0  # added to the neighbours' median when comparing relatively
    # Comparable across neighbours: the same air, the same street noise. A lamp's wattage, a bin's
    # fill, a counter's traffic are each device's own, and a district's gauges sit on rivers and
    # drains that rise differently in a storm: drift against neighbours means nothing there.
    shared: bool = True
    # Moved by the district's weather even where neighbours' readings are not comparable: one shower
    # tips every rain gauge, one storm raises every river and drain. Several such sensors unusual at
    # once is the world; a lamp's power, a counter's traffic or a bin's fill has no such cause.
    weather_driven: bool = False
    # The weather itself (temperature, humidity): a storm swings one precise station and moves every
    # other sensor's level, so a swinging one is judged against departing neighbours too.
    weather: bool = False
    # Rises after rain (rivers and drains): a rise while the district's rain gauges read rain is the rain's.
    rises_after_rain: bool = False
    # A rain gauge repeats 0.2 mm tips for as long as a drizzle lasts: repeats are no sign of a fault.
    stuck_check: bool = True
    # Forecast: how far ahead, over how long a trend, from what fraction of the threshold (0: none).
    forecast_horizon_s: float = 0.0
    forecast_window_s: float = 1800.0
    forecast_from: float = 0.7


PROFILES: dict[str, QuantityProfile] = {
    "pm25": QuantityProfile(1.0, 50.0, 1000.0, drift_floor=10.0, forecast_horizon_s=1200.0, forecast_from=0.8),
    "pm10": QuantityProfile(2.0, 100.0, 2000.0, drift_floor=20.0),
    "temperature": QuantityProfile(0.2, 8.0, 60.0, drift_floor=5.0, weather=True),
    "humidity": QuantityProfile(1.0, 30.0, drift_floor=10.0, weather=True),
    "noise": QuantityProfile(1.0, 25.0, 140.0, drift_floor=20.0),
    "water_level": QuantityProfile(
        0.02, 0.5, 20.0, shared=False, weather_driven=True, rises_after_rain=True, forecast_horizon_s=1800.0
    ),
    "rainfall": QuantityProfile(0.2, 10.0, 50.0, shared=False, weather_driven=True, stuck_check=False),
    "bin_fill": QuantityProfile(
        1.0, 45.0, up_only=True, shared=False, forecast_horizon_s=7200.0, forecast_window_s=10_800.0, forecast_from=0.8
    ),
    "traffic_count": QuantityProfile(2.0, 150.0, 2000.0, shared=False),
    "power": QuantityProfile(1.0, 400.0, 2000.0, shared=False),
}
_DEFAULT = QuantityProfile(1.0, math.inf)


def profile_of(quantity: str) -> QuantityProfile:
    return PROFILES.get(quantity, _DEFAULT)

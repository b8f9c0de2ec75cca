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


PROFILES: dict[str, QuantityProfile] = {
    "pm25": QuantityProfile(1.0, 50.0, 1000.0, drift_floor=10.0),
    "pm10": QuantityProfile(2.0, 100.0, 2000.0, drift_floor=20.0),
    "temperature": QuantityProfile(0.2, 8.0, 60.0, drift_floor=5.0),
    "humidity": QuantityProfile(1.0, 30.0, drift_floor=10.0),
    "noise": QuantityProfile(1.0, 25.0, 140.0, drift_floor=20.0),
    "water_level": QuantityProfile(0.02, 0.5, 20.0, drift_floor=0.5),
    "rainfall": QuantityProfile(0.2, 10.0, 50.0, drift_floor=1.0),
    "bin_fill": QuantityProfile(1.0, 45.0, up_only=True, drift_floor=20.0),
    "traffic_count": QuantityProfile(2.0, 150.0, 2000.0, drift_floor=20.0),
    "power": QuantityProfile(1.0, 400.0, 2000.0, drift_floor=20.0),
}
_DEFAULT = QuantityProfile(1.0, math.inf)


def profile_of(quantity: str) -> QuantityProfile:
    return PROFILES.get(quantity, _DEFAULT)

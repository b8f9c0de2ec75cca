"""What a number means to a resident, read off the city's scales (`citysense.scales`).

No breakpoint lives here: this module only picks the scale for a quantity and names the result.
Categories are stable English keys; the status page translates them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from citysense.scales import AQI, ISPU, flood_scale, index_scale, noise_scale
from citysense.settings import CommonSettings

__all__ = ["AIR_QUANTITIES", "RANK", "Assessment", "assess", "flood_category", "noise_category"]

AIR_QUANTITIES = ("pm25", "pm10")

# Severity order shared by every scale, so a district's colour is the worst of its quantities.
RANK: dict[str, int] = {
    "good": 0,
    "normal": 0,
    "quiet": 0,
    "moderate": 1,
    "alert": 1,
    "unhealthy_for_sensitive_groups": 2,
    "loud": 2,
    "unhealthy": 2,
    "warning": 2,
    "very_unhealthy": 3,
    "very_loud": 3,
    "danger": 3,
    "hazardous": 4,
    "extreme": 4,
}


@dataclass(frozen=True, slots=True)
class Assessment:
    """The category of a value on its scale; `ispu`/`aqi` only for particulate matter.

    `scale` is the city's air index (`ispu` or `us_aqi`), `flood` or `noise`; `category` is on it.
    """

    scale: str
    category: str
    ispu: int | None = None
    aqi: int | None = None
    aqi_category: str | None = None


def flood_category(level_m: float, flood_level_m: float) -> str:
    """Indonesian river alert levels in English: normal, alert (waspada), warning (siaga), danger (awas)."""
    return flood_scale(flood_level_m).level(level_m).key


def noise_category(db: float, noise_limit_db: float) -> str:
    return noise_scale(noise_limit_db).level(db).key


@functools.cache
def _city_settings() -> CommonSettings:
    return CommonSettings()


def assess(
    quantity: str,
    value: float,
    settings: CommonSettings | None = None,
    *,
    flood_level_m: float | None = None,
    air_index: str | None = None,
    noise_limit_db: float | None = None,
) -> Assessment | None:
    """The category of a district's value of `quantity`, or None for quantities without a scale.

    The scales' settings (air index, flood level, noise limit) are the city's, shared with analytics:
    `settings` (the API's), else the environment's; keyword arguments override single ones.
    """
    base = settings if settings is not None else _city_settings()
    flood_level_m = base.flood_level_m if flood_level_m is None else flood_level_m
    noise_limit_db = base.noise_limit_db if noise_limit_db is None else noise_limit_db
    if quantity in AIR_QUANTITIES:
        city = index_scale(air_index or base.air_index)
        return Assessment(
            city.name,
            city.level(quantity, value).key,
            ISPU.index(quantity, value),
            AQI.index(quantity, value),
            AQI.level(quantity, value).key,
        )
    if quantity == "water_level":
        return Assessment("flood", flood_category(value, flood_level_m))
    if quantity == "noise":
        return Assessment("noise", noise_category(value, noise_limit_db))
    return None

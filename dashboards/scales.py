"""The colour bands operators read values against, as Grafana thresholds.

Every band comes from `citysense.scales`, the tables the ticket rules and the status page use,
with the city's settings (air index, flood level, noise limit) read when the dashboards are
built. Each band starts at the lowest value of its category, so a value's colour here is the
category residents see and the severity a ticket gets.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.models.dashboard import Threshold, ThresholdsMode

from citysense.scales import flood_scale, index_scale, noise_scale
from citysense.settings import CommonSettings

__all__ = ["Band", "air_bands", "flood_bands", "ispu_bands", "noise_bands", "thresholds"]

Band = tuple[float | None, str]  # (from this value up, colour); None is the base band


def _settings() -> CommonSettings:
    return CommonSettings()


def air_bands(quantity: str, air_index: str | None = None) -> tuple[Band, ...]:
    """The city's air index bands for PM2.5 or PM10, in concentration (ug/m3)."""
    scale = index_scale(air_index or _settings().air_index)
    return tuple((edge, level.colour) for edge, level in scale.edges(quantity))


# The boards were written against ISPU; the name stays, the index is the city's setting.
ispu_bands = air_bands


def flood_bands(flood_level_m: float | None = None) -> tuple[Band, ...]:
    """Normal, alert (waspada, 60 %), warning (siaga, 80 %), danger (awas, at the flood level), extreme."""
    level = flood_level_m if flood_level_m is not None else _settings().flood_level_m
    return tuple((edge, lv.colour) for edge, lv in flood_scale(level).edges())


def noise_bands(noise_limit_db: float | None = None) -> tuple[Band, ...]:
    limit = noise_limit_db if noise_limit_db is not None else _settings().noise_limit_db
    return tuple((edge, lv.colour) for edge, lv in noise_scale(limit).edges())


def thresholds(bands: tuple[Band, ...]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value, colour) for value, colour in bands])

"""The colour bands operators read values against, as Grafana thresholds.

They are the same scales the public status page uses (`api/categories.py`): Indonesia's ISPU
for particulate matter (regulation P.14/2020, concentrations at each index breakpoint, in the
ministry's colours), the river alert levels as fractions of the flood level, and noise bands.
The flood level itself is analytics' setting, so a ticket and a red line mean the same thing.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.models.dashboard import Threshold, ThresholdsMode

from citysense.settings import AnalyticsSettings

__all__ = ["FLOOD_LEVEL_M", "Band", "flood_bands", "ispu_bands", "noise_bands", "thresholds"]

Band = tuple[float | None, str]  # (from this value up, colour); None is the base band

# ISPU colours: good green, moderate blue, unhealthy yellow, very unhealthy red, hazardous black.
ISPU_PM25: Final[tuple[Band, ...]] = (
    (None, "green"),
    (15.5, "blue"),
    (55.4, "yellow"),
    (150.4, "red"),
    (250.4, "#1f1f1f"),
)
ISPU_PM10: Final[tuple[Band, ...]] = ((None, "green"), (50, "blue"), (150, "yellow"), (350, "red"), (420, "#1f1f1f"))

FLOOD_LEVEL_M: Final = float(AnalyticsSettings.model_fields["water_level_flood_m"].default)

NOISE: Final[tuple[Band, ...]] = ((None, "green"), (55, "yellow"), (70, "orange"), (85, "red"))


def ispu_bands(quantity: str) -> tuple[Band, ...]:
    return {"pm25": ISPU_PM25, "pm10": ISPU_PM10}[quantity]


def flood_bands(flood_level_m: float = FLOOD_LEVEL_M) -> tuple[Band, ...]:
    """Normal, alert (waspada, 60 %), warning (siaga, 80 %), danger (awas, at the flood level)."""
    return (
        (None, "green"),
        (round(0.6 * flood_level_m, 3), "yellow"),
        (round(0.8 * flood_level_m, 3), "orange"),
        (flood_level_m, "red"),
    )


def noise_bands() -> tuple[Band, ...]:
    return NOISE


def thresholds(bands: tuple[Band, ...]) -> ThresholdsConfig:
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value, colour) for value, colour in bands])

"""Indonesia's seasons: the wet monsoon (November to March) and the dry season (June to September).

Between them are transition months. The season sets how often convective storms form and how
heavy they are, how high rivers and drains run in dry weather (the ground is soaked in the wet
season), and how hazy the air is (dry-season burning of fields and peat drives regional smoke).
Each factor is a smooth blend by day of the year, so a run that crosses a month boundary does not
see a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Season", "season_at"]


@dataclass(frozen=True, slots=True)
class Season:
    wetness: float  # 1 in the heart of the wet season, 0 in the heart of the dry season
    storms: float  # multiplier on how often storms form
    storm_peak: float  # multiplier on how heavy they are
    base_water_m: float  # added to every gauge's dry-weather level
    haze: float  # multiplier on the city's regional PM2.5

    @property
    def name(self) -> str:
        return "wet" if self.wetness >= 0.6 else ("dry" if self.wetness <= 0.4 else "transition")


def season_at(t: float, utc_offset_h: float) -> Season:
    """The season at epoch seconds `t` (local date): wettest in mid-January, driest in mid-August."""
    local = datetime.fromtimestamp(t, UTC) + timedelta(hours=utc_offset_h)
    day = local.timetuple().tm_yday
    # A cosine peaking on 15 January (day 15), trough on 15 July... stretched so that June to
    # September sit near the trough and November to March near the peak.
    phase = math.cos(2 * math.pi * (day - 15) / 365.25)
    wetness = 0.5 + 0.5 * math.copysign(abs(phase) ** 0.6, phase)
    dryness = 1.0 - wetness
    return Season(
        wetness=wetness,
        storms=0.25 + 1.75 * wetness,
        storm_peak=0.8 + 0.45 * wetness,
        base_water_m=0.35 * wetness - 0.1 * dryness,
        haze=0.85 + 0.75 * dryness**1.5,
    )

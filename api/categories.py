"""What a number means to a resident: Indonesia's ISPU and the US AQI for air, flood and noise levels.

ISPU breakpoints follow the Ministry of Environment and Forestry's regulation P.14/2020; AQI
breakpoints follow the US EPA's 2024 PM2.5 revision. Both are linear between breakpoints.
Categories are stable English keys; the status page translates them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Assessment", "assess", "flood_category", "noise_category"]

# (concentration low, concentration high, index low, index high)
_Breakpoints = tuple[tuple[float, float, int, int], ...]

_ISPU: dict[str, _Breakpoints] = {
    "pm25": (
        (0, 15.5, 0, 50),
        (15.5, 55.4, 50, 100),
        (55.4, 150.4, 100, 200),
        (150.4, 250.4, 200, 300),
        (250.4, 500, 300, 500),
    ),
    "pm10": ((0, 50, 0, 50), (50, 150, 50, 100), (150, 350, 100, 200), (350, 420, 200, 300), (420, 500, 300, 500)),
}
_ISPU_CATEGORIES = ((50, "good"), (100, "moderate"), (200, "unhealthy"), (300, "very_unhealthy"))

_AQI: dict[str, _Breakpoints] = {
    "pm25": (
        (0, 9.0, 0, 50),
        (9.0, 35.4, 50, 100),
        (35.4, 55.4, 100, 150),
        (55.4, 125.4, 150, 200),
        (125.4, 225.4, 200, 300),
        (225.4, 325.4, 300, 500),
    ),
    "pm10": (
        (0, 54, 0, 50),
        (54, 154, 50, 100),
        (154, 254, 100, 150),
        (254, 354, 150, 200),
        (354, 424, 200, 300),
        (424, 604, 300, 500),
    ),
}
_AQI_CATEGORIES = (
    (50, "good"),
    (100, "moderate"),
    (150, "unhealthy_for_sensitive_groups"),
    (200, "unhealthy"),
    (300, "very_unhealthy"),
)

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
}


@dataclass(frozen=True, slots=True)
class Assessment:
    """The category of a value on its scale; `ispu`/`aqi` only for particulate matter."""

    scale: str
    category: str
    ispu: int | None = None
    aqi: int | None = None
    aqi_category: str | None = None


def _index(table: _Breakpoints, value: float) -> int:
    for c_lo, c_hi, i_lo, i_hi in table:
        if value <= c_hi:
            return round(i_lo + (i_hi - i_lo) * (max(value, c_lo) - c_lo) / (c_hi - c_lo))
    return table[-1][3]


def _category(index: int, table: tuple[tuple[int, str], ...]) -> str:
    for upper, name in table:
        if index <= upper:
            return name
    return "hazardous"


def flood_category(level_m: float, flood_level_m: float) -> str:
    """Indonesian river alert levels in English: normal, alert (waspada), warning (siaga), danger (awas)."""
    ratio = level_m / flood_level_m
    if ratio >= 1.0:
        return "danger"
    if ratio >= 0.8:
        return "warning"
    if ratio >= 0.6:
        return "alert"
    return "normal"


def noise_category(db: float) -> str:
    if db < 55:
        return "quiet"
    if db < 70:
        return "moderate"
    if db < 85:
        return "loud"
    return "very_loud"


def assess(quantity: str, value: float, *, flood_level_m: float) -> Assessment | None:
    """The category of a district's value of `quantity`, or None for quantities without a scale."""
    if quantity in _ISPU:
        ispu = _index(_ISPU[quantity], value)
        aqi = _index(_AQI[quantity], value)
        return Assessment("ispu", _category(ispu, _ISPU_CATEGORIES), ispu, aqi, _category(aqi, _AQI_CATEGORIES))
    if quantity == "water_level":
        return Assessment("flood", flood_category(value, flood_level_m))
    if quantity == "noise":
        return Assessment("noise", noise_category(value))
    return None

"""Air quality indices: Indonesia's ISPU and the US AQI (2024 PM2.5 breakpoints).

Both interpolate linearly between breakpoints: index = (I_hi - I_lo) / (C_hi - C_lo) * (C - C_lo) + I_lo.
Sources: ISPU, Peraturan Menteri LHK P.14/MENLHK/SETJEN/KUM.1/7/2020 (PM2.5 and PM10, 24-hour);
US AQI, EPA's PM2.5 NAAQS revision of 7 February 2024 (PM2.5), unchanged PM10 table.
The city's readings are short averages, so the index here is an indication, not the regulatory
24-hour figure; the ticket rule uses it for categories and the threshold it starts at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CATEGORIES", "AirIndex", "category", "index_value", "ticket_threshold"]

IndexName = Literal["us_aqi", "ispu"]

# (concentration low, concentration high, index low, index high)
_Table = tuple[tuple[float, float, int, int], ...]

_US_AQI: dict[str, _Table] = {
    "pm25": (
        (0.0, 9.0, 0, 50),
        (9.1, 35.4, 51, 100),
        (35.5, 55.4, 101, 150),
        (55.5, 125.4, 151, 200),
        (125.5, 225.4, 201, 300),
        (225.5, 325.4, 301, 500),
    ),
    "pm10": (
        (0, 54, 0, 50),
        (55, 154, 51, 100),
        (155, 254, 101, 150),
        (255, 354, 151, 200),
        (355, 424, 201, 300),
        (425, 604, 301, 500),
    ),
}
_ISPU: dict[str, _Table] = {
    "pm25": (
        (0.0, 15.5, 0, 50),
        (15.6, 55.4, 51, 100),
        (55.5, 150.4, 101, 200),
        (150.5, 250.4, 201, 300),
        (250.5, 500.0, 301, 500),
    ),
    "pm10": ((0, 50, 0, 50), (51, 150, 51, 100), (151, 350, 101, 200), (351, 420, 201, 300), (421, 500, 301, 500)),
}
_TABLES: dict[str, dict[str, _Table]] = {"us_aqi": _US_AQI, "ispu": _ISPU}

# (lowest index of the category, category name, ticket severity or None for no ticket)
CATEGORIES: dict[str, tuple[tuple[int, str, str | None], ...]] = {
    "us_aqi": (
        (0, "good", None),
        (51, "moderate", None),
        (101, "unhealthy for sensitive groups", None),
        (151, "unhealthy", "medium"),
        (201, "very unhealthy", "high"),
        (301, "hazardous", "critical"),
    ),
    "ispu": (
        (0, "baik", None),
        (51, "sedang", None),
        (101, "tidak sehat", "medium"),
        (201, "sangat tidak sehat", "high"),
        (301, "berbahaya", "critical"),
    ),
}


@dataclass(frozen=True, slots=True)
class AirIndex:
    index: str
    value: int
    category: str
    severity: str | None


def index_value(index: IndexName, quantity: str, concentration: float) -> int:
    """The index for a concentration (ug/m3); above the table it is capped at 500."""
    table = _TABLES[index][quantity]
    c = max(0.0, concentration)
    for c_lo, c_hi, i_lo, i_hi in table:
        if c <= c_hi or (c_lo, c_hi) == table[-1][:2]:
            c = min(c, c_hi)
            # Concentrations between two rows (55.45) belong to the upper one.
            c = max(c, c_lo)
            return round((i_hi - i_lo) / (c_hi - c_lo) * (c - c_lo) + i_lo)
    return 500


def category(index: IndexName, quantity: str, concentration: float) -> AirIndex:
    value = index_value(index, quantity, concentration)
    name, severity = "", None
    for lowest, label, level in CATEGORIES[index]:
        if value >= lowest:
            name, severity = label, level
    return AirIndex(index, value, name, severity)


def ticket_threshold(index: IndexName, quantity: str = "pm25") -> float:
    """The lowest concentration whose category opens a ticket (55.5 ug/m3 PM2.5 on both indices)."""
    lowest = next(low for low, _, level in CATEGORIES[index] if level is not None)
    return next(c_lo for c_lo, _, i_lo, _ in _TABLES[index][quantity] if i_lo >= lowest)

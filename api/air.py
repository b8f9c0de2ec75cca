"""Air quality the way the standards average it: 24-hour means for ISPU and AQI, NowCast for the hour.

A district's hourly PM value is the mean of its sensors' hourly means. ISPU (P.14/2020) and the
AQI (EPA-454/B-24-002) are defined on 24-hour averages; EPA asks for at least 18 of the 24 hours
(75 %), and so do we, else the figure is None. For hourly public reporting EPA uses the NowCast
of the last 12 hours (`citysense.scales.nowcast`). The hours are whole clock hours (UTC) ending
at the last complete hour, so two requests in the same hour see the same figures.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from citysense.scales import AQI, ISPU, nowcast
from citysense.timeseries import TimeSeriesStore

__all__ = ["AirFigures", "air_figures", "hourly_means"]

HOUR_MS = 3_600_000
MIN_HOURS_24H = 18  # EPA: 75 % of the day's hours
# The figures change at the hour; late readings of past hours show within REFRESH_MS.
REFRESH_MS = 300_000
_CACHE_MAX = 1024
# Per store (weakly held, so a closed store's figures go with it).
_caches: weakref.WeakKeyDictionary[TimeSeriesStore, dict[tuple[tuple[str, ...], str, int, int], AirFigures]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class AirFigures:
    """The standards' figures for one pollutant in one district, each with its averaging period."""

    avg_24h: float | None
    hours_24h: int
    ispu: int | None
    aqi: int | None
    aqi_category: str | None
    ispu_category: str | None
    nowcast: float | None
    nowcast_aqi: int | None
    nowcast_category: str | None

    def public(self) -> dict[str, Any]:
        """The JSON keys added to a quantity's status (the existing `ispu`/`aqi` keys are set apart)."""
        return {
            "avg_24h": self.avg_24h,
            "avg_24h_hours": self.hours_24h,
            "ispu_averaging": "24h",
            "ispu_category": self.ispu_category,
            "aqi_averaging": "24h",
            "nowcast": self.nowcast,
            "nowcast_aqi": self.nowcast_aqi,
            "nowcast_category": self.nowcast_category,
            "nowcast_averaging": "nowcast_12h",
        }


def hourly_means(store: TimeSeriesStore, devices: Sequence[str], quantity: str, end_ms: int) -> list[float | None]:
    """The district's mean of each of the 24 hours before `end_ms` (an hour boundary), newest first."""
    start_ms = end_ms - 24 * HOUR_MS
    sums: dict[int, list[float]] = defaultdict(list)
    for device_id in sorted(set(devices)):
        frame = store.read_range(
            device_id=device_id, quantity=quantity, start_ms=start_ms, end_ms=end_ms, bucket_s=3600
        )
        for when, mean in zip(frame.index, frame["mean"], strict=True):
            hour = int(when.timestamp() * 1000) // HOUR_MS * HOUR_MS
            sums[hour].append(float(mean))
    hours: list[float | None] = []
    for i in range(1, 25):
        values = sums.get(end_ms - i * HOUR_MS)
        hours.append(sum(values) / len(values) if values else None)
    return hours


def air_figures(store: TimeSeriesStore, devices: Sequence[str], quantity: str, now_ms: int) -> AirFigures:
    """The district's figures, computed once per hour and refresh period (24 bucketed reads per sensor)."""
    key = (tuple(sorted(set(devices))), quantity, now_ms // HOUR_MS, now_ms // REFRESH_MS)
    cache = _caches.setdefault(store, {})
    found = cache.get(key)
    if found is None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        found = cache[key] = _compute(store, devices, quantity, now_ms)
    return found


def _compute(store: TimeSeriesStore, devices: Sequence[str], quantity: str, now_ms: int) -> AirFigures:
    end_ms = now_ms // HOUR_MS * HOUR_MS
    hours: list[float | None] = hourly_means(store, devices, quantity, end_ms) if devices else [None] * 24
    present = [h for h in hours if h is not None]
    avg = sum(present) / len(present) if len(present) >= MIN_HOURS_24H else None
    now = nowcast(hours[:12], quantity=quantity)
    return AirFigures(
        avg_24h=round(avg, 2) if avg is not None else None,
        hours_24h=len(present),
        ispu=ISPU.index(quantity, avg) if avg is not None else None,
        aqi=AQI.index(quantity, avg) if avg is not None else None,
        aqi_category=AQI.level(quantity, avg).key if avg is not None else None,
        ispu_category=ISPU.level(quantity, avg).key if avg is not None else None,
        nowcast=now,
        nowcast_aqi=AQI.index(quantity, now) if now is not None else None,
        nowcast_category=AQI.level(quantity, now).key if now is not None else None,
    )

"""Local hour of day and day of week in the city's time zone (CITYSENSE_TIMEZONE), cheaply.

A ZoneInfo conversion per reading would cost more than the rest of the detector; the offset only
changes on the hour at most (DST transitions fall on whole or half hours), so it is looked up
once per UTC hour and cached.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_TIMEZONE", "LocalClock"]

DEFAULT_TIMEZONE = "Asia/Jakarta"

_HOUR = 3600.0


class LocalClock:
    __slots__ = ("_hour", "_offset", "zone")

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)  # raises ZoneInfoNotFoundError on a bad name: refuse it early
        self._hour = -1
        self._offset = 0.0

    def hour_of_week(self, t: float) -> int:
        """0..167, Monday 00:00 local = 0 (`t` in epoch seconds)."""
        hour = int(t // _HOUR)
        if hour != self._hour:
            offset = datetime.fromtimestamp(hour * _HOUR, UTC).astimezone(self.zone).utcoffset()
            self._offset = offset.total_seconds() if offset is not None else 0.0
            self._hour = hour
        local_hours = int((t + self._offset) // _HOUR)
        # 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week.
        return (local_hours + 72) % 168

    def hours_of_week(self, t: float) -> float:
        """`hour_of_week` with the fraction of the hour: 0.0 <= hours < 168.0."""
        how = self.hour_of_week(t)
        return how + ((t + self._offset) % _HOUR) / _HOUR

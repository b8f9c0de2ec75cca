"""The [start, end) window of a readings request: defaults, limits, and a 422 for nonsense."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import HTTPException

__all__ = ["time_range", "utc"]

_OUT_OF_CALENDAR = "times must lie between the years 1 and 9999 in UTC"


def utc(value: datetime) -> datetime:
    """A naive time is taken as UTC, as ISO 8601 without an offset usually means in APIs."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC time
        raise HTTPException(422, detail=_OUT_OF_CALENDAR) from None


def time_range(
    start: datetime | None, end: datetime | None, *, default_span: timedelta, max_span: timedelta
) -> tuple[datetime, datetime]:
    """End defaults to now and start to `default_span` before it; refused when empty or too long."""
    try:
        end_at = utc(end) if end is not None else datetime.now(UTC)
        start_at = utc(start) if start is not None else end_at - default_span
        span = end_at - start_at
    except OverflowError:  # end - default_span before the year 1
        raise HTTPException(422, detail=_OUT_OF_CALENDAR) from None
    if span <= timedelta(0):
        raise HTTPException(422, detail="start must be before end")
    if span > max_span:
        raise HTTPException(422, detail=f"range is limited to {max_span.days} days per request")
    return start_at, end_at

"""Series for the residents' charts: a district's quantity over time, a ticket's evidence, category bands.

A district's trend is the mean over its sensors per time bucket, the same aggregate the status
shows as the current value. Category bands come from `api.categories.assess` alone (the one call
site to switch when the city's scales move), found by scanning the scale for where the category changes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.categories import RANK, assess
from api.charts import Band, Point, Series
from api.schemas import TicketOperator
from citysense.db.models import Device
from citysense.timeseries import TimeSeriesStore

__all__ = ["category_bands", "category_of", "district_trends", "rank_css", "ticket_evidence"]

# Where each quantity's scale ends on a chart when the data stays lower (the top band is open-ended).
_SCALE_TOP = {"pm25": 300.0, "pm10": 450.0, "noise": 100.0}


def category_of(quantity: str, value: float, *, flood_level_m: float) -> str | None:
    """The category a value falls in (the scale's one entry point for the pages)."""
    found = assess(quantity, value, flood_level_m=flood_level_m)
    return found.category if found else None


def rank_css(category: str | None) -> str:
    """The colour class of a category: r0 (best) .. r4 (worst), `none` for no data."""
    return f"r{RANK[category]}" if category in RANK else "none"


def category_bands(quantity: str, *, flood_level_m: float, upto: float, labels: Mapping[str, str]) -> list[Band]:
    """The scale's categories as value ranges from 0 to at least `upto`; empty for quantities without a scale."""
    top = max(upto, _SCALE_TOP.get(quantity, flood_level_m * 1.3 if quantity == "water_level" else upto))
    if category_of(quantity, 0.0, flood_level_m=flood_level_m) is None:
        return []
    steps = 2000
    bands: list[Band] = []
    start, current = 0.0, category_of(quantity, 0.0, flood_level_m=flood_level_m)
    for i in range(1, steps + 1):
        value = top * i / steps
        category = category_of(quantity, value, flood_level_m=flood_level_m)
        if category != current:
            # Narrow the boundary between the previous step and this one.
            lo, hi = top * (i - 1) / steps, value
            for _ in range(30):
                mid = (lo + hi) / 2
                if category_of(quantity, mid, flood_level_m=flood_level_m) == current:
                    lo = mid
                else:
                    hi = mid
            bands.append(_band(start, hi, current, labels))
            start, current = hi, category
    bands.append(_band(start, top * 10, current, labels))
    return bands


def _band(low: float, high: float, category: str | None, labels: Mapping[str, str]) -> Band:
    name = category or "unknown"
    return Band(round(low, 3), round(high, 3), name, labels.get(name, name), f"c-{rank_css(category)}")


def _mean_by_bucket(frames: Iterable[list[Point]]) -> list[Point]:
    sums: dict[float, list[float]] = defaultdict(list)
    for points in frames:
        for t, v in points:
            sums[t].append(v)
    return [(t, sum(vs) / len(vs)) for t, vs in sorted(sums.items())]


def _points(
    store: TimeSeriesStore, device: str, quantity: str, start: datetime, end: datetime, bucket_s: int
) -> list[Point]:
    frame = store.read_range(
        device_id=device,
        quantity=quantity,
        start_ms=int(start.timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        bucket_s=bucket_s,
    )
    return [(when.timestamp(), float(mean)) for when, mean in zip(frame.index, frame["mean"], strict=True)]


def district_trends(
    store: TimeSeriesStore,
    sessions: sessionmaker[Session],
    quantities: Iterable[str],
    *,
    end: datetime,
    span: timedelta,
    bucket_s: int,
    district: str | None = None,
) -> dict[str, dict[str, list[Point]]]:
    """{district: {quantity: [(time, mean over the district's sensors)]}} over `span` before `end`."""
    query = select(Device.id, Device.district)
    if district is not None:
        query = query.where(Device.district == district)
    with sessions() as session:
        devices = dict(session.execute(query).all())
    wanted = set(quantities)
    reporting: dict[tuple[str, str], list[str]] = defaultdict(list)
    for reading in store.latest():
        if reading.quantity in wanted and reading.device_id in devices:
            reporting[(devices[reading.device_id], reading.quantity)].append(reading.device_id)
    found: dict[str, dict[str, list[Point]]] = defaultdict(dict)
    for (where, quantity), ids in sorted(reporting.items()):
        found[where][quantity] = _mean_by_bucket(
            _points(store, device, quantity, end - span, end, bucket_s) for device in sorted(ids)
        )
    return found


def ticket_evidence(
    store: TimeSeriesStore, ticket: TicketOperator, *, now: datetime, max_devices: int = 4
) -> list[Series]:
    """The readings of the sensors that raised a sensor ticket, from shortly before it opened until it ended."""
    if ticket.source != "sensor" or not ticket.quantity or not ticket.devices:
        return []
    end = ticket.resolved_at or now
    start = ticket.opened_at - timedelta(hours=1)
    span_s = max((end - start).total_seconds(), 60.0)
    bucket_s = max(60, int(span_s / 120))  # about 120 points, whatever the ticket's age
    return [
        Series(device, points)
        for device in ticket.devices[:max_devices]
        if (points := _points(store, device, ticket.quantity, start, end + timedelta(seconds=1), bucket_s))
    ]

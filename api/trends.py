"""Series for the residents' charts: a district's quantity over time, a ticket's evidence, category bands.

A district's trend is the mean over its sensors per time bucket, the same aggregate the status
shows as the current value. Category bands are the edges of the city's scales (`citysense.scales`),
so a band and the category the status names for a value always agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.categories import AIR_QUANTITIES, RANK
from api.charts import Band, Point, Series
from api.schemas import TicketOperator
from citysense.db.models import Device
from citysense.scales import flood_scale, index_scale, noise_scale
from citysense.timeseries import TimeSeriesStore

__all__ = ["category_bands", "district_trends", "rank_css", "ticket_evidence"]

# Where each quantity's scale ends on a chart when the data stays lower (the top band is open-ended).
_SCALE_TOP = {"pm25": 300.0, "pm10": 450.0, "noise": 100.0}


def rank_css(category: str | None) -> str:
    """The colour class of a category: r0 (best) .. r4 (worst), `none` for no data."""
    return f"r{RANK[category]}" if category in RANK else "none"


def _edges(quantity: str, *, flood_level_m: float, air_index: str, noise_limit_db: float) -> list[tuple[float, str]]:
    """(lowest value, category) of each band of the quantity's scale, from the city's scales module."""
    if quantity in AIR_QUANTITIES:
        edges = index_scale(air_index).edges(quantity)
    elif quantity == "water_level":
        edges = flood_scale(flood_level_m).edges()
    elif quantity == "noise":
        edges = noise_scale(noise_limit_db).edges()
    else:
        return []
    return [(lowest or 0.0, level.key) for lowest, level in edges]


def category_bands(
    quantity: str,
    *,
    flood_level_m: float,
    air_index: str = "ispu",
    noise_limit_db: float = 78.0,
    upto: float,
    labels: Mapping[str, str],
) -> list[Band]:
    """The scale's categories as value ranges from 0 to at least `upto`; empty for quantities without a scale."""
    edges = _edges(quantity, flood_level_m=flood_level_m, air_index=air_index, noise_limit_db=noise_limit_db)
    if not edges:
        return []
    top = max(upto, _SCALE_TOP.get(quantity, flood_level_m * 1.3 if quantity == "water_level" else upto))
    bounds = [low for low, _ in edges[1:]] + [max(top, edges[-1][0]) * 10]
    return [_band(low, high, category, labels) for (low, category), high in zip(edges, bounds, strict=True)]


def _band(low: float, high: float, category: str | None, labels: Mapping[str, str]) -> Band:
    name = category or "unknown"
    return Band(round(low, 3), round(high, 3), name, labels.get(name, name), f"c-{rank_css(category)}")


def _buckets(
    store: TimeSeriesStore, devices: list[str], quantity: str, start: datetime, end: datetime, bucket_s: int
) -> dict[str, list[Point]]:
    """{device: [(bucket start, mean)]}, all devices in one store query."""
    found: dict[str, list[Point]] = defaultdict(list)
    for device, bucket_ms, mean, _low, _high, _count in store.read_buckets(
        device_ids=devices,
        quantity=quantity,
        start_ms=int(start.timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        bucket_s=bucket_s,
    ):
        found[device].append((bucket_ms / 1000, mean))
    return found


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
    """{district: {quantity: [(time, mean over the district's sensors)]}} over `span` before `end`.

    One store query per quantity, whatever the number of sensors.
    """
    query = select(Device.id, Device.district)
    if district is not None:
        query = query.where(Device.district == district)
    with sessions() as session:
        devices = dict(session.execute(query).all())
    found: dict[str, dict[str, list[Point]]] = defaultdict(dict)
    for quantity in quantities:
        reporting = sorted({r.device_id for r in store.latest(quantity=quantity) if r.device_id in devices})
        per_device = _buckets(store, reporting, quantity, end - span, end, bucket_s)
        per_district: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for device, points in per_device.items():
            for t, v in points:
                per_district[devices[device]][t].append(v)
        for where, buckets in per_district.items():
            found[where][quantity] = [(t, sum(vs) / len(vs)) for t, vs in sorted(buckets.items())]
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
    devices = ticket.devices[:max_devices]
    per_device = _buckets(store, devices, ticket.quantity, start, end + timedelta(seconds=1), bucket_s)
    return [Series(device, per_device[device]) for device in devices if per_device.get(device)]

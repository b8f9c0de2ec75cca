"""Read-side queries shared by the JSON API and the status page."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from api.schemas import DistrictStatus, QuantityStatus, StatusPublic, TicketOperator, TimelineStep
from citysense.db import Device, Ticket, TicketStatus
from citysense.timeseries import TimeSeriesStore
from citysense.wire import QUANTITIES

__all__ = ["city_status", "list_tickets"]


def _at(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, UTC)


def city_status(store: TimeSeriesStore, sessions: sessionmaker[Session]) -> StatusPublic:
    """Latest value of every quantity in every district: the mean over its sensors, and the worst."""
    with sessions() as session:
        devices = dict(session.execute(select(Device.id, Device.district)).all())
        open_counts = dict(
            session.execute(
                select(Ticket.district, func.count())
                .where(Ticket.status != TicketStatus.RESOLVED)
                .group_by(Ticket.district)
            ).all()
        )
    per_district: dict[str, dict[str, list[tuple[float, int]]]] = defaultdict(lambda: defaultdict(list))
    for reading in store.latest():
        district = devices.get(reading.device_id)
        if district is not None:
            per_district[district][reading.quantity].append((reading.value, reading.time_ms))
    device_counts: dict[str, int] = defaultdict(int)
    for district in devices.values():
        device_counts[district] += 1
    districts = []
    for district in sorted(device_counts):
        quantities = {}
        for name, points in sorted(per_district[district].items()):
            values = [v for v, _ in points]
            quantities[name] = QuantityStatus(
                quantity=name,
                label=QUANTITIES[name].label,
                unit=QUANTITIES[name].unit,
                value=round(sum(values) / len(values), 3),
                max=max(values),
                sensors=len(values),
                updated_at=_at(max(t for _, t in points)),
            )
        districts.append(
            DistrictStatus(
                district=district,
                devices=device_counts[district],
                open_tickets=open_counts.get(district, 0),
                quantities=quantities,
            )
        )
    return StatusPublic(generated_at=datetime.now(UTC), districts=districts)


def list_tickets(
    sessions: sessionmaker[Session],
    *,
    status: str | None = None,
    district: str | None = None,
    service_code: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TicketOperator], int]:
    """Newest first, with their timelines; the total ignores limit and offset."""
    query = select(Ticket)
    if status is not None:
        query = query.where(Ticket.status == status)
    if district is not None:
        query = query.where(Ticket.district == district)
    if service_code is not None:
        query = query.where(Ticket.service_code == service_code)
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.options(selectinload(Ticket.events)).order_by(Ticket.id.desc()).limit(limit).offset(offset)
        ).all()
        tickets = [
            TicketOperator(
                id=t.id,
                service_code=t.service_code,
                title=t.title,
                district=t.district,
                severity=t.severity,
                status=t.status,
                opened_at=t.opened_at,
                updated_at=t.updated_at,
                resolved_at=t.resolved_at,
                timeline=[TimelineStep(at=e.at, kind=e.kind, message=e.message) for e in t.events],
                dedupe_key=t.dedupe_key,
                quantity=t.quantity,
                threshold=t.threshold,
                peak_value=t.peak_value,
                devices=list(t.devices),
                last_breach_at=t.last_breach_at,
            )
            for t in rows
        ]
    return tickets, total

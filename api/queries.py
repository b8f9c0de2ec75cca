"""Read-side queries shared by the JSON APIs, Open311 and the status page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Select, String, and_, cast, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from api.air import air_figures
from api.categories import AIR_QUANTITIES, assess
from api.geo import City
from api.schemas import (
    Anomaly,
    DeviceOperator,
    DistrictPublic,
    DistrictStatus,
    QuantityStatus,
    StatusPublic,
    TicketOperator,
    TimelineStep,
)
from api.services import DEFAULT_AGENCY, SERVICES, agency_of, codes_of_agency
from citysense.db.models import ApiKey, AuditEntry, Device, Ticket, TicketEvent, TicketStatus, Webhook
from citysense.settings import CommonSettings
from citysense.timeseries import TimeSeriesStore
from citysense.wire import QUANTITIES

__all__ = [
    "agency_filter",
    "anomalies",
    "audit_of_agency",
    "city_status",
    "devices_with_health",
    "districts",
    "is_public_step",
    "list_tickets",
    "to_operator",
]


def _at(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, UTC)


def city_status(
    store: TimeSeriesStore,
    sessions: sessionmaker[Session],
    *,
    settings: CommonSettings | None = None,
    flood_level_m: float | None = None,
    air_index: str | None = None,
    noise_limit_db: float | None = None,
    now_ms: int | None = None,
) -> StatusPublic:
    """Latest value of every quantity in every district: the mean over its sensors, the worst, and its category.

    `value` and `category` are of the latest readings (what the ticket rules see); particulate
    matter also gets the standards' figures: ISPU and AQI of the 24-hour average and the EPA
    NowCast for the hour, each with its averaging period named. The scales' settings come from
    `settings` (the API's); `flood_level_m`, `air_index` and `noise_limit_db`, when given, override it.
    """
    scales = settings if settings is not None else CommonSettings()
    overrides = {
        k: v
        for k, v in (("flood_level_m", flood_level_m), ("air_index", air_index), ("noise_limit_db", noise_limit_db))
        if v is not None
    }
    if overrides:
        scales = scales.model_copy(update=overrides)
    with sessions() as session:
        devices = dict(session.execute(select(Device.id, Device.district)).all())
        open_counts = dict(
            session.execute(
                select(Ticket.district, func.count())
                .where(Ticket.status != TicketStatus.RESOLVED, Ticket.public)
                .group_by(Ticket.district)
            ).all()
        )
    per_district: dict[str, dict[str, list[tuple[float, int]]]] = defaultdict(lambda: defaultdict(list))
    air_devices: dict[tuple[str, str], list[str]] = defaultdict(list)
    for reading in store.latest():
        district = devices.get(reading.device_id)
        if district is not None:
            per_district[district][reading.quantity].append((reading.value, reading.time_ms))
            if reading.quantity in AIR_QUANTITIES:
                air_devices[(district, reading.quantity)].append(reading.device_id)
    now_ms = int(datetime.now(UTC).timestamp() * 1000) if now_ms is None else now_ms
    device_counts: dict[str, int] = defaultdict(int)
    for district in devices.values():
        device_counts[district] += 1
    result = []
    for district in sorted(device_counts):
        quantities = {}
        for name, points in sorted(per_district[district].items()):
            values = [v for v, _ in points]
            mean = round(sum(values) / len(values), 3)
            # Residents are told the category of the mean, the district's typical exposure.
            meaning = assess(name, mean, scales)
            standard = (
                air_figures(store, air_devices[(district, name)], name, now_ms) if name in AIR_QUANTITIES else None
            )
            quantities[name] = QuantityStatus(
                quantity=name,
                label=QUANTITIES[name].label,
                unit=QUANTITIES[name].unit,
                value=mean,
                max=max(values),
                sensors=len(values),
                updated_at=_at(max(t for _, t in points)),
                scale=meaning.scale if meaning else None,
                category=meaning.category if meaning else None,
                ispu=standard.ispu if standard else None,
                aqi=standard.aqi if standard else None,
                aqi_category=standard.aqi_category if standard else None,
                averaging="latest",
                category_averaging="latest" if meaning else None,
                **(standard.public() if standard else {}),
            )
        result.append(
            DistrictStatus(
                district=district,
                devices=device_counts[district],
                open_tickets=open_counts.get(district, 0),
                quantities=quantities,
            )
        )
    return StatusPublic(generated_at=datetime.now(UTC), districts=result)


def districts(city: City, sessions: sessionmaker[Session]) -> list[DistrictPublic]:
    """The city's districts from its GeoJSON, then any district only the device registry knows."""
    with sessions() as session:
        counts = dict(session.execute(select(Device.district, func.count()).group_by(Device.district)).all())
        positions: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for district, lat, lon in session.execute(
            select(Device.district, Device.lat, Device.lon).where(Device.lat.is_not(None), Device.lon.is_not(None))
        ):
            if lat is not None and lon is not None:
                positions[district].append((lon, lat))
    found = [
        DistrictPublic(slug=d.slug, name=d.name, centre=d.centre, devices=counts.get(d.slug, 0), has_geometry=True)
        for d in city.districts
    ]
    known = {d.slug for d in city.districts}
    for slug in sorted(set(counts) - known):
        points = positions.get(slug)
        centre = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)) if points else None
        found.append(
            DistrictPublic(
                slug=slug,
                name=slug.replace("-", " ").title(),
                centre=centre,
                devices=counts[slug],
                has_geometry=False,
            )
        )
    return found


def agency_filter(agency: str) -> ColumnElement[bool]:
    """Tickets of one agency: its service codes, and for public works every code nobody else owns."""
    condition: ColumnElement[bool] = Ticket.service_code.in_(codes_of_agency(agency))
    if agency == DEFAULT_AGENCY:
        condition = or_(condition, Ticket.service_code.not_in(list(SERVICES)))
    return condition


def audit_of_agency(agency: str) -> ColumnElement[bool]:
    """Audit entries about one agency's things: its tickets, its webhooks, its keys; nothing else."""
    tickets = select(cast(Ticket.id, String)).where(agency_filter(agency))
    hooks = select(cast(Webhook.id, String)).where(Webhook.agency == agency)
    keys = select(cast(ApiKey.id, String)).where(ApiKey.agency == agency)
    return or_(
        and_(AuditEntry.target_type == "ticket", AuditEntry.target_id.in_(tickets)),
        and_(AuditEntry.target_type == "webhook", AuditEntry.target_id.in_(hooks)),
        and_(AuditEntry.target_type == "api_key", AuditEntry.target_id.in_(keys)),
    )


def is_public_step(event: TicketEvent) -> bool:
    """Residents see every step except operators' internal comments."""
    return not (event.kind == "comment" and not (event.data or {}).get("public"))


def to_operator(ticket: Ticket, *, public_only: bool = False) -> TicketOperator:
    events = [e for e in ticket.events if is_public_step(e)] if public_only else ticket.events
    return TicketOperator(
        id=ticket.id,
        service_code=ticket.service_code,
        title=ticket.title,
        district=ticket.district,
        severity=ticket.severity,
        status=ticket.status,
        opened_at=ticket.opened_at,
        updated_at=ticket.updated_at,
        resolved_at=ticket.resolved_at,
        timeline=[TimelineStep(at=e.at, kind=e.kind, message=e.message) for e in events],
        dedupe_key=ticket.dedupe_key,
        quantity=ticket.quantity,
        threshold=ticket.threshold,
        peak_value=ticket.peak_value,
        devices=list(ticket.devices),
        last_breach_at=ticket.last_breach_at,
        agency=agency_of(ticket.service_code),
        source=ticket.source,
        assignee=ticket.assignee,
        expected_completion_at=ticket.expected_completion_at,
        description=ticket.description,
        lat=ticket.lat,
        lon=ticket.lon,
        address=ticket.address,
    )


def _filtered(
    query: Select[Ticket],
    *,
    status: str | Sequence[str] | None,
    district: str | None,
    service_code: str | Sequence[str] | None,
    agency: str | None,
    ids: Sequence[int] | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
) -> Select[Ticket]:
    if isinstance(status, str):
        query = query.where(Ticket.status == status)
    elif status is not None:
        query = query.where(Ticket.status.in_(list(status)))
    if district is not None:
        query = query.where(Ticket.district == district)
    if isinstance(service_code, str):
        query = query.where(Ticket.service_code == service_code)
    elif service_code is not None:
        query = query.where(Ticket.service_code.in_(list(service_code)))
    if agency is not None:
        query = query.where(agency_filter(agency))
    if ids is not None:
        query = query.where(Ticket.id.in_(list(ids)))
    if opened_after is not None:
        query = query.where(Ticket.opened_at >= opened_after)
    if opened_before is not None:
        query = query.where(Ticket.opened_at <= opened_before)
    return query


def list_tickets(
    sessions: sessionmaker[Session],
    *,
    status: str | Sequence[str] | None = None,
    district: str | None = None,
    service_code: str | Sequence[str] | None = None,
    agency: str | None = None,
    ids: Sequence[int] | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
    public_only: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TicketOperator], int]:
    """Newest first, with their timelines; the total ignores limit and offset."""
    query = _filtered(
        select(Ticket),
        status=status,
        district=district,
        service_code=service_code,
        agency=agency,
        ids=ids,
        opened_after=opened_after,
        opened_before=opened_before,
    )
    if public_only:  # an anomaly ticket waits for an operator's confirmation (issue 14)
        query = query.where(Ticket.public)
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.options(selectinload(Ticket.events)).order_by(Ticket.id.desc()).limit(limit).offset(offset)
        ).all()
        tickets = [to_operator(t, public_only=public_only) for t in rows]
    return tickets, total


def devices_with_health(
    store: TimeSeriesStore,
    sessions: sessionmaker[Session],
    *,
    silent_after_s: float,
    district: str | None = None,
    health: str | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[DeviceOperator], int]:
    """Registered devices in id order, each with the time of its newest reading and whether it still
    reports, `limit` of them from `offset` (all without a limit); and how many match the filters.

    Health follows from the store's newest reading of every series (one row per series, not per
    reading) and the registry's columns, so the filter and the count cost one pass over the fleet;
    only the page's devices are built.
    """
    query = select(Device.id, Device.district, Device.kind, Device.lat, Device.lon).order_by(Device.id)
    if district is not None:
        query = query.where(Device.district == district)
    with sessions() as session:
        rows = session.execute(query).all()
    last_ms: dict[str, int] = {}
    quantities: dict[str, set[str]] = defaultdict(set)
    for reading in store.latest():
        quantities[reading.device_id].add(reading.quantity)
        last_ms[reading.device_id] = max(last_ms.get(reading.device_id, 0), reading.time_ms)
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=silent_after_s)

    def state_of(device_id: str) -> Literal["ok", "silent", "never_seen"]:
        if device_id not in last_ms:
            return "never_seen"
        return "silent" if _at(last_ms[device_id]) < cutoff else "ok"

    if health is not None:
        rows = [row for row in rows if state_of(row.id) == health]
    page = rows[offset:] if limit is None else rows[offset : offset + limit]
    found = [
        DeviceOperator(
            id=row.id,
            district=row.district,
            kind=row.kind,
            lat=row.lat,
            lon=row.lon,
            last_seen=_at(last_ms[row.id]) if row.id in last_ms else None,
            health=state_of(row.id),
            quantities=sorted(quantities[row.id]),
        )
        for row in page
    ]
    return found, len(rows)


def anomalies(
    sessions: sessionmaker[Session],
    *,
    agency: str | None,
    district: str | None = None,
    device_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Anomaly], int]:
    """The out-of-bounds readings analytics recorded as ticket evidence, newest first."""
    query = (
        select(TicketEvent, Ticket)
        .join(Ticket, TicketEvent.ticket_id == Ticket.id)
        .where(TicketEvent.kind.in_(["opened", "updated"]), Ticket.source == "sensor")
    )
    if agency is not None:
        query = query.where(agency_filter(agency))
    if district is not None:
        query = query.where(Ticket.district == district)
    if since is not None:
        query = query.where(TicketEvent.at >= since)
    if device_id is not None:
        query = query.where(TicketEvent.data["device_id"].as_string() == device_id)
    # Counted and paged in the database: a page reads its own rows, however long the history.
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(query.order_by(TicketEvent.id.desc()).limit(limit).offset(offset)).all()
    found = []
    for event, ticket in rows:
        data = event.data or {}
        value = data.get("value")
        found.append(
            Anomaly(
                ticket_id=ticket.id,
                at=event.at,
                district=ticket.district,
                service_code=ticket.service_code,
                device_id=data.get("device_id"),
                quantity=ticket.quantity,
                value=float(value) if isinstance(value, int | float) else None,
                severity=data.get("severity"),
                kind=event.kind,
            )
        )
    return found, total

"""The public API for residents and open data: no login, cached, rate limited, no internal details."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from sqlalchemy import func, select

from api.caching import PublicCache
from api.deps import CityDep, SessionsDep, SettingsDep, StoreDep
from api.export import ExportGrid
from api.paging import page_headers
from api.queries import city_status, districts, list_tickets
from api.schemas import (
    DistrictsPublic,
    DistrictStatus,
    QuantityStatus,
    StatusPublic,
    TicketPublic,
    TicketPublicDetail,
    TicketsPublic,
)
from api.timerange import time_range
from citysense.db.models import Device, Ticket, TicketStatus
from citysense.wire import QUANTITIES

router = APIRouter(prefix="/public/v1", tags=["public"])

TicketState = Literal["open", "acknowledged", "assigned", "resolved"]
Slug = Annotated[str, Path(min_length=1, max_length=64, description="a district's slug, e.g. sungai-barat")]
MAX_EXPORT_RANGE = timedelta(days=7)
MAX_EXPORT_PAGE = 10_000


def _cache(request: Request) -> PublicCache:
    cache: PublicCache = request.app.state.public_cache
    return cache


def _json(model: Any) -> bytes:
    return model.model_dump_json().encode() if hasattr(model, "model_dump_json") else orjson.dumps(model)


def _status(request: Request) -> StatusPublic:
    state = request.app.state
    return city_status(state.store, state.sessions, settings=state.settings)


@router.get("/districts", response_model=DistrictsPublic)
async def list_districts(request: Request, city: CityDep, sessions: SessionsDep) -> Response:
    """The city's districts (from its GeoJSON, then any only the device registry knows)."""

    def render() -> bytes:
        found = districts(city, sessions)
        return _json(DistrictsPublic(data=found, count=len(found)))

    return await _cache(request).respond(request, "districts", render)


@router.get("/districts.geojson", responses={200: {"content": {"application/geo+json": {}}}})
async def districts_geojson(request: Request, city: CityDep, sessions: SessionsDep) -> Response:
    """The districts' shapes as GeoJSON, each with its device and open-ticket counts."""

    def render() -> bytes:
        with sessions() as session:
            devices = dict(session.execute(select(Device.district, func.count()).group_by(Device.district)).all())
            open_tickets = dict(
                session.execute(
                    select(Ticket.district, func.count())
                    .where(Ticket.status != TicketStatus.RESOLVED, Ticket.public)
                    .group_by(Ticket.district)
                ).all()
            )
        features = []
        for feature in city.geojson.get("features", []):
            slug = feature["properties"]["slug"]
            props = {
                **feature["properties"],
                "devices": devices.get(slug, 0),
                "open_tickets": open_tickets.get(slug, 0),
            }
            features.append({"type": "Feature", "properties": props, "geometry": feature["geometry"]})
        return orjson.dumps({"type": "FeatureCollection", "features": features})

    return await _cache(request).respond(request, "districts.geojson", render, "application/geo+json")


@router.get("/status", response_model=StatusPublic)
async def status(request: Request) -> Response:
    """The latest air, water and weather in every district, with ISPU/AQI and flood categories."""
    return await _cache(request).respond(request, "status", lambda: _json(_status(request)))


@router.get("/status/{district}", response_model=DistrictStatus, responses={404: {"description": "unknown district"}})
async def district_status(request: Request, district: Slug) -> Response:
    """One district's latest values and open tickets."""

    def render() -> bytes:
        for found in _status(request).districts:
            if found.district == district:
                return _json(found)
        return b""

    response = await _cache(request).respond(request, ("status", district), render)
    if response.status_code == 200 and not response.body:
        raise HTTPException(404, detail=f"no district {district!r} with sensors")
    return response


@router.get(
    "/status/{district}/{quantity}",
    response_model=QuantityStatus,
    responses={404: {"description": "unknown district or no reading of that quantity"}},
)
async def quantity_status(request: Request, district: Slug, quantity: str) -> Response:
    """The latest aggregate of one quantity in one district, with its category."""
    if quantity not in QUANTITIES:
        raise HTTPException(422, detail=f"unknown quantity {quantity!r}; known: {', '.join(sorted(QUANTITIES))}")

    def render() -> bytes:
        for found in _status(request).districts:
            if found.district == district and quantity in found.quantities:
                return _json(found.quantities[quantity])
        return b""

    response = await _cache(request).respond(request, ("status", district, quantity), render)
    if response.status_code == 200 and not response.body:
        raise HTTPException(404, detail=f"no {quantity} readings in district {district!r}")
    return response


@router.get("/tickets", response_model=TicketsPublic)
async def tickets(
    request: Request,
    sessions: SessionsDep,
    status: Annotated[TicketState | None, Query(description="only tickets in this state")] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Tickets the city opened, newest first, each with its progress timeline.

    Paged: `count` and `X-Total-Count` are how many match the filters; while more follow,
    `Link: <...>; rel="next"` is the next page's address.
    """

    def render() -> tuple[bytes, int]:
        found, total = list_tickets(
            sessions, status=status, district=district, limit=limit, offset=offset, public_only=True
        )
        data = [TicketPublic.model_validate(t, from_attributes=True) for t in found]
        return _json(TicketsPublic(data=data, count=total)), total

    return await _cache(request).respond_page(
        request, ("tickets", status, district, limit, offset), render, offset=offset, limit=limit
    )


@router.get(
    "/tickets/{ticket_id}", response_model=TicketPublicDetail, responses={404: {"description": "no such ticket"}}
)
def ticket(ticket_id: Annotated[int, Path(ge=1, le=2**31 - 1)], sessions: SessionsDep) -> TicketPublicDetail:
    """One ticket's progress: what was found, every step since, who is responsible and when it should be done."""
    found, _ = list_tickets(sessions, ids=[ticket_id], public_only=True, limit=1)
    if not found:
        raise HTTPException(404, detail=f"no ticket {ticket_id}")
    return TicketPublicDetail.model_validate(found[0], from_attributes=True)


@router.get("/devices.geojson", responses={200: {"content": {"application/geo+json": {}}}})
async def devices_geojson(
    request: Request,
    sessions: SessionsDep,
    district: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The city's sensors as GeoJSON points (devices without a position are left out).

    Paged: `count` and `X-Total-Count` are how many match; while more follow, `Link: rel=next`.
    """

    def render() -> tuple[bytes, int]:
        query = select(Device).where(Device.lat.is_not(None), Device.lon.is_not(None))
        if district is not None:
            query = query.where(Device.district == district)
        with sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(Device.id).limit(limit).offset(offset)).all()
        features = [
            {
                "type": "Feature",
                "id": d.id,
                "properties": {"id": d.id, "district": d.district, "kind": d.kind},
                "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]},
            }
            for d in rows
        ]
        return orjson.dumps({"type": "FeatureCollection", "features": features, "count": total}), total

    return await _cache(request).respond_page(
        request, ("devices", district, limit, offset), render, offset=offset, limit=limit,
        media_type="application/geo+json",
    )  # fmt: skip


@router.get("/export/readings.csv", responses={200: {"content": {"text/csv": {}}}})
def export_readings(
    request: Request,
    store: StoreDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    quantity: Annotated[str, Query(description="a wire quantity, e.g. pm25 or water_level")],
    district: Annotated[str | None, Query(max_length=64, description="only this district's sensors")] = None,
    start: Annotated[datetime | None, Query(description="ISO 8601; default: 24 hours before end")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; default: now")] = None,
    bucket: Annotated[int, Query(ge=60, le=86_400, description="bucket width in seconds")] = 3600,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT_PAGE, description="(sensor, bucket) slots per page")] = 1000,
    offset: Annotated[int, Query(ge=0, le=100_000_000, description="slots before this page")] = 0,
) -> Response:
    """Bucketed readings per sensor as CSV (open data). At most 7 days per request; pages follow `Link: rel=next`.

    A page covers `limit` (sensor, bucket) slots, sensors in id order and time within each; a slot
    where the sensor did not report has no row, so a page may hold fewer rows than `limit`. Keep
    following `Link: rel=next` until there is none. `X-Total-Count` is the number of slots.
    """
    if quantity not in QUANTITIES:
        raise HTTPException(422, detail=f"unknown quantity {quantity!r}; known: {', '.join(sorted(QUANTITIES))}")
    start_at, end_at = time_range(start, end, default_span=timedelta(hours=24), max_span=MAX_EXPORT_RANGE)
    query = select(Device.id, Device.district).order_by(Device.id)
    if district is not None:
        query = query.where(Device.district == district)
    with sessions() as session:
        registered = dict(session.execute(query).all())
    reporting = {r.device_id for r in store.latest(quantity=quantity)}  # one row per sensor, not per reading
    grid = ExportGrid(
        devices=tuple(sorted(d for d in registered if d in reporting)),
        start_ms=int(start_at.timestamp() * 1000),
        end_ms=int(end_at.timestamp() * 1000),
        bucket_s=bucket,
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "device_id", "district", "quantity", "unit", "mean", "min", "max", "count"])
    unit = QUANTITIES[quantity].unit
    for device_id, time_ms, mean, low, high, count in grid.read_page(store, quantity, offset, limit):
        when = datetime.fromtimestamp(time_ms / 1000, UTC).isoformat()
        row = [when, device_id, registered[device_id], quantity, unit, f"{mean:.6g}", f"{low:.6g}", f"{high:.6g}"]
        writer.writerow([*row, count])
    headers = {"Cache-Control": f"public, max-age={int(settings.public_cache_s)}"}
    headers |= page_headers(
        request, total=grid.slots, offset=offset, limit=limit, start=start_at.isoformat(), end=end_at.isoformat()
    )
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

"""The operator API: tickets with their evidence, readings by range and bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from api.deps import OperatorDep, SessionsDep, StoreDep
from api.queries import list_tickets
from api.schemas import ReadingPoint, Readings, TicketsOperator
from citysense.wire import QUANTITIES, is_valid_device_id

router = APIRouter(prefix="/api/v1", tags=["operator"], dependencies=[OperatorDep])

MAX_RANGE = timedelta(days=31)
MAX_RAW_POINTS = 50_000


@router.get("/tickets")
def tickets(
    sessions: SessionsDep,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    service_code: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TicketsOperator:
    found, total = list_tickets(
        sessions, status=status, district=district, service_code=service_code, limit=limit, offset=offset
    )
    return TicketsOperator(data=found, count=total)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/readings")
def readings(
    store: StoreDep,
    device_id: Annotated[str, Query(min_length=1, max_length=64, description="the device's id")],
    quantity: Annotated[str, Query(description="a wire quantity, e.g. pm25 or water_level")],
    start: Annotated[datetime | None, Query(description="ISO 8601; default: one hour before end")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; default: now")] = None,
    bucket: Annotated[int | None, Query(ge=1, le=86_400, description="bucket width in seconds")] = None,
) -> Readings:
    """One device's readings of one quantity in [start, end), raw or averaged per bucket."""
    if not is_valid_device_id(device_id):
        raise HTTPException(422, detail=f"invalid device_id {device_id!r}")
    if quantity not in QUANTITIES:
        known = ", ".join(sorted(QUANTITIES))
        raise HTTPException(422, detail=f"unknown quantity {quantity!r}; known: {known}")
    end_at = _utc(end) if end is not None else datetime.now(UTC)
    start_at = _utc(start) if start is not None else end_at - timedelta(hours=1)
    if start_at >= end_at:
        raise HTTPException(422, detail="start must be before end")
    if end_at - start_at > MAX_RANGE:
        raise HTTPException(422, detail="range is limited to 31 days")
    frame = store.read_range(
        device_id=device_id,
        quantity=quantity,
        start_ms=int(start_at.timestamp() * 1000),
        end_ms=int(end_at.timestamp() * 1000),
        bucket_s=bucket,
    )
    if bucket is None and len(frame) > MAX_RAW_POINTS:
        raise HTTPException(
            422,
            detail=f"{len(frame)} raw readings in range (max {MAX_RAW_POINTS}); ask with a bucket",
        )
    points = [
        ReadingPoint(time=when.to_pydatetime(), **{k: v for k, v in row.items() if v == v})
        for when, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return Readings(
        device_id=device_id,
        quantity=quantity,
        unit=QUANTITIES[quantity].unit,
        bucket_s=bucket,
        kind="raw" if bucket is None else "bucketed",
        data=points,
    )

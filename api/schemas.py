"""Response models: one family per entity (public view, operator view, list wrapper)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

__all__ = [
    "DistrictStatus",
    "QuantityStatus",
    "ReadingPoint",
    "Readings",
    "StatusPublic",
    "TicketOperator",
    "TicketPublic",
    "TicketsOperator",
    "TicketsPublic",
    "TimelineStep",
]


class QuantityStatus(BaseModel):
    quantity: str
    label: str
    unit: str
    value: float
    max: float
    sensors: int
    updated_at: datetime


class DistrictStatus(BaseModel):
    district: str
    devices: int
    open_tickets: int
    quantities: dict[str, QuantityStatus]


class StatusPublic(BaseModel):
    generated_at: datetime
    districts: list[DistrictStatus]


class TimelineStep(BaseModel):
    at: datetime
    kind: str
    message: str


class TicketPublic(BaseModel):
    """What residents see: what was found, where, and every step since. No internal details."""

    id: int
    service_code: str
    title: str
    district: str
    severity: str
    status: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    timeline: list[TimelineStep]


class TicketOperator(TicketPublic):
    dedupe_key: str
    quantity: str
    threshold: float
    peak_value: float
    devices: list[str]
    last_breach_at: datetime


class TicketsPublic(BaseModel):
    data: list[TicketPublic]
    count: int


class TicketsOperator(BaseModel):
    data: list[TicketOperator]
    count: int


class ReadingPoint(BaseModel):
    time: datetime
    value: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None


class Readings(BaseModel):
    device_id: str
    quantity: str
    unit: str
    bucket_s: int | None
    kind: Literal["raw", "bucketed"]
    data: list[ReadingPoint]

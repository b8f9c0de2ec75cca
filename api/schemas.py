"""Response models: one family per entity (public view, operator view, list wrapper)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, computed_field

__all__ = [
    "Anomalies",
    "Anomaly",
    "AssignBody",
    "AuditLog",
    "AuditRecord",
    "CommentBody",
    "DeviceOperator",
    "DevicesOperator",
    "DistrictPublic",
    "DistrictStatus",
    "DistrictsPublic",
    "NoteBody",
    "QuantityStatus",
    "ReadingPoint",
    "Readings",
    "StatusPublic",
    "TicketOperator",
    "TicketPublic",
    "TicketPublicDetail",
    "TicketsOperator",
    "TicketsPublic",
    "TimelineStep",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPublic",
]


class QuantityStatus(BaseModel):
    quantity: str
    label: str
    unit: str
    value: float
    max: float
    sensors: int
    updated_at: datetime
    # What the value means: `scale` is ispu (air), flood (water) or noise; None for other quantities.
    scale: str | None = None
    category: str | None = None
    ispu: int | None = None
    aqi: int | None = None
    aqi_category: str | None = None
    # Averaging period of each figure: `value` and `category` are of the latest readings
    # ("latest", what the ticket rules see); `ispu` and `aqi` of the 24-hour average ("24h", at
    # least 18 hourly means, as the standards define them); `nowcast` is EPA's NowCast of the last
    # 12 hourly means ("nowcast_12h", EPA's hourly public figure).
    averaging: str | None = None
    category_averaging: str | None = None
    avg_24h: float | None = None
    avg_24h_hours: int | None = None
    ispu_averaging: str | None = None
    ispu_category: str | None = None
    aqi_averaging: str | None = None
    nowcast: float | None = None
    nowcast_aqi: int | None = None
    nowcast_category: str | None = None
    nowcast_averaging: str | None = None


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def link(self) -> str:
        """The ticket's page for residents (stable, shareable)."""
        return f"/tickets/{self.id}"


class TicketPublicDetail(TicketPublic):
    """One ticket for residents: the list's fields plus who is responsible and when it should be done."""

    agency: str
    source: str
    expected_completion_at: datetime | None


class TicketOperator(TicketPublic):
    dedupe_key: str
    quantity: str
    threshold: float
    peak_value: float
    devices: list[str]
    last_breach_at: datetime
    agency: str = ""
    source: str = "sensor"
    assignee: str | None = None
    expected_completion_at: datetime | None = None
    description: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str | None = None


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
    # Raw pages: the `start` of the next page (also in `Link: rel="next"`); None on the last page.
    next: str | None = None


class DistrictPublic(BaseModel):
    slug: str
    name: str
    # (lon, lat) of a point inside or near the district, for a label; None without geometry.
    centre: tuple[float, float] | None
    devices: int
    has_geometry: bool


class DistrictsPublic(BaseModel):
    data: list[DistrictPublic]
    count: int


class DeviceOperator(BaseModel):
    id: str
    district: str
    kind: str
    lat: float | None
    lon: float | None
    last_seen: datetime | None
    # ok: reported recently; silent: nothing for `device_silent_after_s`; never_seen: no reading stored.
    health: Literal["ok", "silent", "never_seen"]
    quantities: list[str]


class DevicesOperator(BaseModel):
    data: list[DeviceOperator]
    count: int


class Anomaly(BaseModel):
    """A reading analytics found out of bounds, as recorded in a ticket's evidence."""

    ticket_id: int
    at: datetime
    district: str
    service_code: str
    device_id: str | None
    quantity: str
    value: float | None
    severity: str | None
    kind: str


class Anomalies(BaseModel):
    data: list[Anomaly]
    count: int


class AuditRecord(BaseModel):
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]


class AuditLog(BaseModel):
    data: list[AuditRecord]
    count: int


class AssignBody(BaseModel):
    assignee: str = Field(min_length=1, max_length=120, description="the crew or person who will do the work")
    expected_completion_at: datetime | None = Field(default=None, description="when residents can expect it done")
    note: str | None = Field(default=None, max_length=2000)


class CommentBody(BaseModel):
    message: str = Field(min_length=1, max_length=2000)
    public: bool = Field(default=False, description="shown on the public timeline when true")


class NoteBody(BaseModel):
    note: str | None = Field(default=None, max_length=2000, description="why; shown on the public timeline")


class WebhookCreate(BaseModel):
    url: AnyHttpUrl
    events: list[
        Literal["opened", "updated", "acknowledged", "assigned", "comment", "resolved", "reopened", "reported"]
    ] = Field(default_factory=list, description="ticket event kinds to send; empty: all")


class WebhookPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    agency: str | None
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="signs every delivery (HMAC-SHA256); shown only now")

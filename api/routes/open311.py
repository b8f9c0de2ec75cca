"""Open311 GeoReport v2 (JSON): the service catalogue, service requests, resident reports.

Field names follow the GeoReport v2 specification. Every city ticket is a service request:
`open` while unresolved, `closed` once resolved, with the newest public timeline step as
`status_notes`. Errors use the specification's shape, `[{"code": 400, "description": "..."}]`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import CityDep, SessionsDep, SettingsDep
from api.media import public_photo_urls
from api.open311_reports import ReportRefused, submit_report
from api.queries import list_tickets
from api.schemas import TicketOperator
from api.services import SERVICES, agency_of
from citysense.db.models import TicketStatus

router = APIRouter(prefix="/open311/v2", tags=["open311"])

MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
UNRESOLVED = [TicketStatus.OPEN.value, TicketStatus.ACKNOWLEDGED.value, TicketStatus.ASSIGNED.value]


class Open311Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Open311Definition(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]]


class Open311Request(BaseModel):
    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class Open311Created(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class Open311Error(BaseModel):
    code: int
    description: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": list[Open311Error], "description": "a parameter is missing or malformed"},
    404: {"model": list[Open311Error], "description": "no such service or request"},
}


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": code, "description": description}], status_code=code)


def _service(code: str) -> Open311Service:
    s = SERVICES[code]
    return Open311Service(
        service_code=s.code,
        service_name=s.name,
        description=s.description,
        metadata=False,
        type="realtime",
        keywords=",".join(s.keywords),
        group=s.group,
    )


def _request(t: TicketOperator, media_url: str | None = None) -> Open311Request:
    service = SERVICES.get(t.service_code)
    return Open311Request(
        service_request_id=str(t.id),
        status="closed" if t.status == TicketStatus.RESOLVED else "open",
        status_notes=t.timeline[-1].message if t.timeline else None,
        service_name=service.name if service else t.service_code,
        service_code=t.service_code,
        description=t.description if t.source == "resident" else t.title,
        agency_responsible=agency_of(t.service_code),
        service_notice=None,
        requested_datetime=t.opened_at,
        updated_datetime=t.updated_at,
        expected_datetime=t.expected_completion_at,
        address=t.address,
        address_id=None,
        zipcode=None,
        lat=t.lat,
        long=t.lon,
        media_url=media_url,
    )


@router.get("/services.json")
def services() -> list[Open311Service]:
    """Every service residents can request, with the agency group responsible."""
    return [_service(code) for code in SERVICES]


@router.get("/services/{service_code}.json", responses=_ERRORS)
def service_definition(service_code: Annotated[str, Path(max_length=64)]) -> Any:
    """The service's extra attributes (none: every citysense service is `metadata: false`)."""
    if service_code not in SERVICES:
        return _error(404, f"no service {service_code!r}")
    return Open311Definition(service_code=service_code, attributes=[])


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _split(value: str | None) -> list[str] | None:
    if value is None or value.strip() == "":
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


@router.get("/requests.json", responses=_ERRORS)
def requests(
    sessions: SessionsDep,
    service_request_id: Annotated[str | None, Query(max_length=2000, description="comma-separated ids")] = None,
    service_code: Annotated[str | None, Query(max_length=2000, description="comma-separated codes")] = None,
    start_date: Annotated[str | None, Query(max_length=64, description="W3C datetime")] = None,
    end_date: Annotated[str | None, Query(max_length=64, description="W3C datetime")] = None,
    status: Annotated[str | None, Query(max_length=32, description="open, closed or both, comma-separated")] = None,
    jurisdiction_id: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """Service requests, newest first: the last 90 days unless dates are given; at most 1000."""
    ids: list[int] | None = None
    if (wanted := _split(service_request_id)) is not None:
        parsed = [_request_number(part) for part in wanted]
        if None in parsed:
            return _error(400, "service_request_id must be comma-separated numbers")
        ids = [n for n in parsed if n is not None]
    try:
        start = _parse_time("start_date", start_date)
        end = _parse_time("end_date", end_date)
    except ValueError:
        return _error(400, "start_date and end_date must be W3C datetimes, e.g. 2026-09-21T12:00:00Z")
    states: list[str] | None = None
    if (asked := _split(status)) is not None:
        if any(s not in ("open", "closed") for s in asked):
            return _error(400, "status must be open, closed, or both separated by a comma")
        states = [
            *(UNRESOLVED if "open" in asked else []),
            *([TicketStatus.RESOLVED.value] if "closed" in asked else []),
        ]
    if ids is None and start is None and end is None:
        start = datetime.now(UTC) - DEFAULT_WINDOW
    if start is not None and end is not None and start > end:
        return _error(400, "start_date must not be after end_date")
    found, _ = list_tickets(
        sessions,
        ids=ids,
        service_code=_split(service_code),
        status=states,
        opened_after=start,
        opened_before=end,
        public_only=True,
        limit=MAX_REQUESTS,
    )
    photos = public_photo_urls(sessions, [t.id for t in found])
    return [_request(t, photos.get(t.id)) for t in found]


def _request_number(text: str) -> int | None:
    """A service request id as a ticket number; None for anything else.

    ASCII digits only: `str.isdigit` also accepts digits `int` refuses (superscripts such as '¹').
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return int(text)


@router.get("/requests/{service_request_id}.json", responses=_ERRORS)
def request(service_request_id: Annotated[str, Path(max_length=32)], sessions: SessionsDep) -> Any:
    """One service request, as a list of one (as the specification has it)."""
    number = _request_number(service_request_id)
    if number is None:
        return _error(404, f"no service request {service_request_id!r}")
    found, _ = list_tickets(sessions, ids=[number], public_only=True, limit=1)
    if not found:
        return _error(404, f"no service request {service_request_id!r}")
    return [_request(found[0], public_photo_urls(sessions, [number]).get(number))]


@router.post("/requests.json", status_code=201, responses=_ERRORS)
def create_request(
    http: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    city: CityDep,
    service_code: Annotated[str | None, Form(max_length=64)] = None,
    lat: Annotated[str | None, Form(max_length=32)] = None,
    long: Annotated[str | None, Form(max_length=32)] = None,
    address_string: Annotated[str | None, Form(max_length=250)] = None,
    description: Annotated[str | None, Form(max_length=4000)] = None,
    email: Annotated[str | None, Form(max_length=250)] = None,
    first_name: Annotated[str | None, Form(max_length=120)] = None,
    last_name: Annotated[str | None, Form(max_length=120)] = None,
    phone: Annotated[str | None, Form(max_length=64)] = None,
    api_key: Annotated[str | None, Form(max_length=200)] = None,
    jurisdiction_id: Annotated[str | None, Form(max_length=200)] = None,
) -> Any:
    """A resident's report; it becomes a ticket of its own. Needs a location: lat and long, or address_string."""
    try:
        submitted = submit_report(
            sessions,
            settings,
            city,
            client="open311",
            address=http.client.host if http.client else "",
            service_code=service_code,
            lat=lat,
            long=long,
            address_string=address_string,
            description=description,
            contact={
                "email": email or "",
                "first_name": first_name or "",
                "last_name": last_name or "",
                "phone": phone or "",
            },
            api_key=api_key,
        )
    except ReportRefused as refused:
        return _error(refused.code, refused.description)
    return JSONResponse(
        [
            Open311Created(
                service_request_id=str(submitted.ticket_id), service_notice=submitted.notice, account_id=None
            ).model_dump()
        ],
        status_code=201,
    )

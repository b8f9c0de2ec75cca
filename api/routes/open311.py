"""Open311 GeoReport v2: service discovery, the service catalogue, service requests, resident reports.

Every endpoint answers in XML (the specification's required format) and JSON, chosen by the
URL's suffix (`services.xml`, `services.json`). Field names follow the specification. Every city
ticket is a service request: `open` while unresolved, `closed` once resolved, with the newest
public timeline step as `status_notes`. Errors, every one under /open311 (unknown paths and
over-long parameters included), use the specification's shape: `[{"code": 400, "description":
"..."}]`, or `<errors><error><code>400</code><description>...</description></error></errors>`,
rendered by `api.open311_errors` (which the body limit and rate limiter use too, for 413 and 429).
Reports go through `api.open311_reports.submit_report`, the function the status page's form uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from api.bodylimit import BodyTooLargeError
from api.deps import CityDep, SessionsDep, SettingsDep
from api.media import public_photo_urls
from api.open311_errors import error_document
from api.open311_reports import MAX_LENGTHS, ReportRefusedError, address_ids, submit_report
from api.queries import list_tickets
from api.schemas import TicketOperator
from api.services import SERVICES, agency_of
from citysense.db.models import TicketStatus

router = APIRouter(prefix="/open311", tags=["open311"])

MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
UNRESOLVED = [TicketStatus.OPEN.value, TicketStatus.ACKNOWLEDGED.value, TicketStatus.ASSIGNED.value]
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-30T00:00:00Z"
# Longest accepted query value (characters), per parameter.
MAX_QUERY = {"service_request_id": 2000, "service_code": 2000, "start_date": 64, "end_date": 64, "status": 32}

Format = Literal["json", "xml"]
_ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


# ----------------------------------------------------------------------------- rendering


def _w3c(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _w3c(value)
    return str(value)


def _element(name: str, value: Any) -> ET.Element:
    node = ET.Element(name)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            node.append(_element(key, inner))
    elif isinstance(value, list | tuple):
        for inner in value:
            node.append(_element(_ITEM_NAMES.get(name, "item"), inner))
    elif value is not None:
        node.text = _text(value)
    return node


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return _w3c(value)
    return value


def _render(fmt: str, root: str, body: Any, status_code: int = 200) -> Response:
    """`body` as JSON (as it is) or XML (under `root`, lists as repeated items: the Spark convention)."""
    if fmt == "xml":
        xml = ET.tostring(_element(root, body), encoding="unicode")
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}',
            status_code=status_code,
            media_type="text/xml; charset=utf-8",
        )
    return JSONResponse(_json_ready(body), status_code=status_code, media_type="application/json; charset=utf-8")


def _error(fmt: str, code: int, description: str) -> Response:
    body, media_type = error_document(fmt, code, description)
    return Response(body, status_code=code, media_type=media_type)


def _format(name: str) -> tuple[str, str] | None:
    """`services.xml` -> ("services", "xml"); None for an unknown suffix."""
    stem, dot, suffix = name.rpartition(".")
    return (stem, suffix) if dot and suffix in ("json", "xml") else None


# ----------------------------------------------------------------------------- resources


def _service(code: str) -> dict[str, Any]:
    s = SERVICES[code]
    return {
        "service_code": s.code,
        "service_name": s.name,
        "description": s.description,
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(s.keywords),
        "group": s.group,
    }


def _request(t: TicketOperator, address_id: str | None, media_url: str | None) -> dict[str, Any]:
    service = SERVICES.get(t.service_code)
    return {
        "service_request_id": str(t.id),
        "status": "closed" if t.status == TicketStatus.RESOLVED else "open",
        "status_notes": t.timeline[-1].message if t.timeline else None,
        "service_name": service.name if service else t.service_code,
        "service_code": t.service_code,
        "description": t.description if t.source == "resident" else t.title,
        "agency_responsible": agency_of(t.service_code),
        "service_notice": None,
        "requested_datetime": t.opened_at,
        "updated_datetime": t.updated_at,
        "expected_datetime": t.expected_completion_at,
        "address": t.address,
        "address_id": address_id,
        "zipcode": None,
        "lat": t.lat,
        "long": t.lon,
        "media_url": media_url,
    }


def _requests(sessions: Any, tickets: Sequence[TicketOperator]) -> list[dict[str, Any]]:
    numbers = [t.id for t in tickets]
    ids, photos = address_ids(sessions, numbers), public_photo_urls(sessions, numbers)
    return [_request(t, ids.get(t.id), photos.get(t.id)) for t in tickets]


def _parse_time(value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable instant
        raise ValueError("out of range") from None


def _split(value: str | None) -> list[str] | None:
    if value is None or value.strip() == "":
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def _request_number(text: str) -> int | None:
    """A service request id as a ticket number; None for anything else.

    ASCII digits only: `str.isdigit` also accepts digits `int` refuses (superscripts such as '¹').
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return int(text)


def _jurisdiction_error(fmt: str, settings: Any, jurisdiction_id: str | None) -> Response | None:
    if jurisdiction_id and jurisdiction_id != settings.open311_jurisdiction_id:
        return _error(
            fmt, 404, f"jurisdiction_id {jurisdiction_id[:80]!r} not found; this endpoint serves "
            f"{settings.open311_jurisdiction_id!r}"
        )  # fmt: skip
    return None


# ----------------------------------------------------------------------------- routes


def _discovery(request: Request, fmt: str) -> Response:
    base = str(request.base_url).rstrip("/")
    body = {
        "changeset": CHANGESET,
        "contact": "The city's service desk, via the status page.",
        "key_service": "Ask the city for an API key (citysense keys create --scope open311:submit).",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _render(fmt, "discovery", body)


@router.get("/discovery.{fmt}", response_model=None)
@router.get("/v2/discovery.{fmt}", response_model=None)
def discovery(request: Request, fmt: str) -> Response:
    """Service discovery: where the GeoReport v2 endpoint is and which formats it speaks."""
    if fmt not in ("json", "xml"):
        return _error("json", 404, f"no such format {fmt[:16]!r}; use .json or .xml")
    return _discovery(request, fmt)


@router.get("/v2/{name}", response_model=None)
def services_or_requests(
    request: Request, name: Annotated[str, PathParam()], sessions: SessionsDep, settings: SettingsDep
) -> Response:
    """`services.{xml,json}` (the catalogue) and `requests.{xml,json}` (service requests)."""
    parsed = _format(name)
    if parsed is None or parsed[0] not in ("services", "requests"):
        return _not_found(name, parsed[1] if parsed else "json")
    stem, fmt = parsed
    query = request.query_params
    if (failure := _jurisdiction_error(fmt, settings, query.get("jurisdiction_id"))) is not None:
        return failure
    if stem == "services":
        return _render(fmt, "services", [_service(code) for code in SERVICES])
    return _list_requests(fmt, sessions, query)


def _list_requests(fmt: str, sessions: Any, query: Mapping[str, str]) -> Response:
    """Service requests, newest first: the last 90 days unless dates are given; at most 1000.

    `service_request_id` overrides every other filter, as the specification says.
    """
    for name, limit in MAX_QUERY.items():
        if len(query.get(name) or "") > limit:
            return _error(fmt, 400, f"{name} is longer than {limit} characters")
    if (wanted := _split(query.get("service_request_id"))) is not None:
        parsed = [_request_number(part) for part in wanted]
        if None in parsed:
            return _error(fmt, 400, "service_request_id must be comma-separated numbers")
        found, _ = list_tickets(
            sessions, ids=[n for n in parsed if n is not None], public_only=True, limit=MAX_REQUESTS
        )
        return _render(fmt, "service_requests", _requests(sessions, found))
    try:
        start = _parse_time(query.get("start_date"))
        end = _parse_time(query.get("end_date"))
    except ValueError:
        return _error(fmt, 400, "start_date and end_date must be W3C datetimes, e.g. 2026-09-21T12:00:00Z")
    states: list[str] | None = None
    if (asked := _split(query.get("status"))) is not None:
        if any(s not in ("open", "closed") for s in asked):
            return _error(fmt, 400, "status must be open, closed, or both separated by a comma")
        states = [
            *(UNRESOLVED if "open" in asked else []),
            *([TicketStatus.RESOLVED.value] if "closed" in asked else []),
        ]
    if start is None and end is None:
        start = datetime.now(UTC) - DEFAULT_WINDOW
    if start is not None and end is not None and start > end:
        return _error(fmt, 400, "start_date must not be after end_date")
    codes = _split(query.get("service_code"))
    if codes is not None and (unknown := [c for c in codes if c not in SERVICES]):
        return _error(fmt, 404, f"service_code {unknown[0][:64]!r} not found; see services.{fmt}")
    found, _ = list_tickets(
        sessions,
        service_code=codes,
        status=states,
        opened_after=start,
        opened_before=end,
        public_only=True,
        limit=MAX_REQUESTS,
    )
    return _render(fmt, "service_requests", _requests(sessions, found))


@router.get("/v2/services/{name}", response_model=None)
def service_definition(request: Request, name: str, settings: SettingsDep) -> Response:
    """The service's extra attributes (none: every citysense service is `metadata: false`)."""
    parsed = _format(name)
    if parsed is None:
        return _not_found(f"services/{name}", "json")
    code, fmt = parsed
    if (failure := _jurisdiction_error(fmt, settings, request.query_params.get("jurisdiction_id"))) is not None:
        return failure
    if code not in SERVICES:
        return _error(fmt, 404, f"service_code {code[:64]!r} not found")
    return _render(fmt, "service_definition", {"service_code": code, "attributes": []})


@router.get("/v2/requests/{name}", response_model=None)
def request_one(request: Request, name: str, sessions: SessionsDep, settings: SettingsDep) -> Response:
    """One service request, as a list of one (as the specification has it)."""
    parsed = _format(name)
    if parsed is None:
        return _not_found(f"requests/{name}", "json")
    wanted, fmt = parsed
    if (failure := _jurisdiction_error(fmt, settings, request.query_params.get("jurisdiction_id"))) is not None:
        return failure
    number = _request_number(wanted)
    if number is None:
        return _error(fmt, 404, f"no service request {wanted[:32]!r}")
    found, _ = list_tickets(sessions, ids=[number], public_only=True, limit=1)
    if not found:
        return _error(fmt, 404, f"no service request {wanted[:32]!r}")
    return _render(fmt, "service_requests", _requests(sessions, found))


_FORM_FIELDS = (
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "email",
    "first_name",
    "last_name",
    "phone",
    "api_key",
    "jurisdiction_id",
)


@router.post("/v2/{name}", response_model=None)
async def create_request(
    request: Request, name: str, sessions: SessionsDep, settings: SettingsDep, city: CityDep
) -> Response:
    """A resident's report (form-encoded, as the specification has it); anonymous unless a key is required.

    Needs a location: lat and long, address_string, or address_id. Answers 201 with the new (or,
    for a near-identical report of an open ticket, the existing) service request id.
    """
    parsed = _format(name)
    if parsed is None or parsed[0] != "requests":
        return _not_found(name, parsed[1] if parsed else "json")
    fmt = parsed[1]
    try:
        form = await request.form(max_files=0, max_fields=50)
    except BodyTooLargeError as exc:  # a body that grew past the limit while it was read
        return _error(fmt, 413, exc.detail)
    except Exception:  # malformed multipart or too many fields: the client's fault
        return _error(fmt, 400, "the body must be a form (application/x-www-form-urlencoded)")
    values: dict[str, str | None] = {}
    for field in _FORM_FIELDS:
        raw = form.get(field)
        values[field] = raw if isinstance(raw, str) else None
    for field, value in values.items():
        if value is not None and len(value) > MAX_LENGTHS[field]:
            return _error(fmt, 400, f"{field} is longer than {MAX_LENGTHS[field]} characters")
    contact = {k: values[k] or "" for k in ("email", "first_name", "last_name", "phone")}
    try:
        done = submit_report(
            sessions,
            settings,
            city,
            client="open311",
            address=request.client.host if request.client else "unknown",
            service_code=values["service_code"],
            lat=values["lat"],
            long=values["long"],
            address_string=values["address_string"],
            address_id=values["address_id"],
            description=values["description"],
            contact=contact,
            api_key=values["api_key"],
            jurisdiction_id=values["jurisdiction_id"],
        )
    except ReportRefusedError as refused:
        response = _error(fmt, refused.code, refused.description)
        if refused.code == 429:
            response.headers["Retry-After"] = str(int(settings.open311_window_s))
        return response
    body = [{"service_request_id": str(done.ticket_id), "service_notice": done.notice, "account_id": None}]
    return _render(fmt, "service_requests", body, 201)


def _not_found(path: str, fmt: str) -> Response:
    return _error(fmt, 404, f"no Open311 resource {path[:80]!r}; see /open311/discovery.{fmt}")


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def unknown(rest: str) -> Response:
    """Anything else under /open311 is a 404 in Open311's error shape."""
    parsed = _format(rest)
    return _not_found(rest, parsed[1] if parsed else "json")

"""A resident's report, from Open311 or the status page's form: checked, throttled, merged or opened.

`submit_report` is the one place a report becomes a ticket. Open311's POST requests.json calls it
as the `open311` client and the status page's report form as the built-in `web` client, so both
get the same checks:

* a location: lat and long, or a typed address (kept as `address_string`; no geocoder is
  assumed), or a jurisdiction's `address_id` alone;
* the service must exist (404 otherwise, as GeoReport v2 has it), and so must the jurisdiction;
* with `open311_require_key`, Open311 clients present an `api_key` with scope `open311:submit`
  (403 otherwise); the `web` client is the city's own form and needs none. A key that is
  presented is always checked;
* at most `open311_max_reports` accepted reports per client address per `open311_window_s` (429);
* a near-identical report (same service, within 50 m or the same typed address or address id,
  nearly the same words) of a ticket still open joins that ticket instead of opening another.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.geo import City
from api.services import SERVICES
from api.workflow import report
from citysense.db.models import Open311Submission, Ticket, TicketEvent, TicketStatus
from citysense.keys import verify_key
from citysense.settings import ApiSettings

__all__ = ["CLIENTS", "ReportRefusedError", "Submitted", "address_ids", "submit_report"]

CLIENTS = ("open311", "web")
MERGE_DISTANCE_M = 50.0
MERGE_SIMILARITY = 0.9

# Longest accepted value of each form field (characters).
MAX_LENGTHS: dict[str, int] = {
    "service_code": 64,
    "lat": 32,
    "long": 32,
    "address_string": 250,
    "address_id": 120,
    "description": 4000,
    "email": 250,
    "first_name": 120,
    "last_name": 120,
    "phone": 64,
    "api_key": 200,
    "jurisdiction_id": 200,
}


class ReportRefusedError(Exception):
    """Why a report was not taken: an HTTP status and a sentence for the resident."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class Submitted:
    ticket_id: int
    merged: bool
    notice: str


def _location(
    lat: str | None, long: str | None, address_string: str | None, address_id: str | None
) -> tuple[float | None, float | None]:
    if lat or long:
        try:
            latitude, longitude = float(lat or ""), float(long or "")
        except ValueError:
            raise ReportRefusedError(400, "lat and long must both be decimal degrees") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ReportRefusedError(400, "lat must be within -90..90 and long within -180..180")
        return latitude, longitude
    if not address_string and not address_id:
        raise ReportRefusedError(400, "a location is required: lat and long, address_string, or address_id")
    return None, None


def _normal(text: str | None) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").casefold()).split())


def _place(lat: float | None, lon: float | None, address_string: str | None, address_id: str | None) -> str:
    if lat is not None and lon is not None:
        return f"geo:{lat:.6f},{lon:.6f}"
    if address_id:
        return f"id:{address_id.strip()}"
    return f"addr:{_normal(address_string)}"


def _metres(a: str, b: str) -> float | None:
    """Distance between two `geo:` places (haversine), None when either is not a point."""
    if not (a.startswith("geo:") and b.startswith("geo:")):
        return None
    (lat1, lon1), (lat2, lon2) = (tuple(map(float, p[4:].split(","))) for p in (a, b))
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _same_place(a: str, b: str) -> bool:
    distance = _metres(a, b)
    return distance <= MERGE_DISTANCE_M if distance is not None else a == b


def _check_key(sessions: sessionmaker[Session], settings: ApiSettings, client: str, api_key: str | None) -> None:
    if api_key:
        principal = verify_key(sessions, api_key)
        if principal is None or not principal.allows("open311:submit"):
            raise ReportRefusedError(403, "api_key is not valid for Open311 reports (scope open311:submit)")
    elif settings.open311_require_key and client != "web":
        raise ReportRefusedError(403, "an api_key is required: ask the city for one with scope open311:submit")


def _check_lengths(fields: dict[str, str | None]) -> None:
    for name, value in fields.items():
        limit = MAX_LENGTHS.get(name)
        if value is not None and limit is not None and len(value) > limit:
            raise ReportRefusedError(400, f"{name} is longer than {limit} characters")


def _merge_target(session: Session, service_code: str, place: str, text: str, since: datetime) -> Ticket | None:
    rows = session.execute(
        select(Open311Submission.place, Open311Submission.text, Ticket)
        .join(Ticket, Ticket.id == Open311Submission.ticket_id)
        .where(
            Open311Submission.service_code == service_code,
            Open311Submission.at >= since,
            Ticket.status != TicketStatus.RESOLVED,
        )
        .order_by(Open311Submission.id.desc())
        .limit(200)
    ).all()
    for other_place, other_text, ticket in rows:
        if _same_place(place, other_place) and (
            other_text == text or difflib.SequenceMatcher(None, other_text, text).ratio() >= MERGE_SIMILARITY
        ):
            return ticket
    return None


def submit_report(
    sessions: sessionmaker[Session],
    settings: ApiSettings,
    city: City,
    *,
    client: str,
    address: str,
    service_code: str | None,
    lat: str | None = None,
    long: str | None = None,
    address_string: str | None = None,
    address_id: str | None = None,
    description: str | None = None,
    contact: dict[str, str] | None = None,
    api_key: str | None = None,
    jurisdiction_id: str | None = None,
) -> Submitted:
    """Take a resident's report: a new ticket, or the open ticket it repeats. Raises `ReportRefusedError`."""
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; known: {CLIENTS}")
    contact = {k: v for k, v in (contact or {}).items() if v}
    _check_lengths(
        {
            "service_code": service_code,
            "lat": lat,
            "long": long,
            "address_string": address_string,
            "address_id": address_id,
            "description": description,
            "api_key": api_key,
            "jurisdiction_id": jurisdiction_id,
            **contact,
        }
    )
    if jurisdiction_id and jurisdiction_id != settings.open311_jurisdiction_id:
        raise ReportRefusedError(404, f"jurisdiction_id {jurisdiction_id!r} not found; this endpoint serves "
                            f"{settings.open311_jurisdiction_id!r}")  # fmt: skip
    if not service_code:
        raise ReportRefusedError(400, "service_code is required")
    if service_code not in SERVICES:
        raise ReportRefusedError(404, f"service_code {service_code!r} not found; see services.json")
    _check_key(sessions, settings, client, api_key)
    latitude, longitude = _location(lat, long, address_string, address_id)
    now = datetime.now(UTC)
    place = _place(latitude, longitude, address_string, address_id)
    text = _normal(description)
    with sessions() as session:
        recent = session.scalar(
            select(func.count())
            .select_from(Open311Submission)
            .where(
                Open311Submission.address == address,
                Open311Submission.at >= now - timedelta(seconds=settings.open311_window_s),
            )
        )
        if (recent or 0) >= settings.open311_max_reports:
            minutes = settings.open311_window_s / 60
            raise ReportRefusedError(
                429,
                f"too many reports from your address: at most {settings.open311_max_reports} per "
                f"{minutes:g} minutes; please try again later",
            )
        target = _merge_target(session, service_code, place, text, now - timedelta(seconds=settings.open311_merge_s))
        target_id = target.id if target is not None else None
    if target_id is not None:
        with sessions.begin() as session:
            ticket = session.get(Ticket, target_id)
            assert ticket is not None
            ticket.updated_at = now
            ticket.events.append(
                TicketEvent(
                    at=now,
                    kind="reported",
                    message="Another resident reported this.",
                    data={"contact": contact, "description": description},
                )
            )
            _record(session, client, address, service_code, place, text, target_id, address_id, merged=True, at=now)
        return Submitted(
            target_id, True, f"Thank you. This was already reported; follow it at /public/v1/tickets/{target_id}."
        )
    district = (city.locate(longitude, latitude) if latitude is not None and longitude is not None else None) or (
        "unknown"
    )
    where = address_string or (f"address id {address_id}" if address_id else None)
    created = report(
        sessions,
        service_code=service_code,
        district=district,
        description=description,
        lat=latitude,
        lon=longitude,
        address=where,
        contact=contact,
    )
    with sessions.begin() as session:
        _record(session, client, address, service_code, place, text, created.id, address_id, merged=False, at=now)
    return Submitted(created.id, False, f"Thank you. Follow your report at /public/v1/tickets/{created.id}.")


def _record(
    session: Session,
    client: str,
    address: str,
    service_code: str,
    place: str,
    text: str,
    ticket_id: int,
    address_id: str | None,
    *,
    merged: bool,
    at: datetime,
) -> None:
    session.add(
        Open311Submission(
            at=at,
            client=client,
            address=address[:64],
            service_code=service_code,
            place=place[:300],
            text=text,
            ticket_id=ticket_id,
            address_id=address_id,
            merged=merged,
        )
    )


def address_ids(sessions: sessionmaker[Session], ticket_ids: list[int]) -> dict[int, str]:
    """The `address_id` residents gave for these tickets (Open311 echoes it back)."""
    if not ticket_ids:
        return {}
    with sessions() as session:
        rows = session.execute(
            select(Open311Submission.ticket_id, Open311Submission.address_id).where(
                Open311Submission.ticket_id.in_(ticket_ids), Open311Submission.address_id.is_not(None)
            )
        ).all()
    return {ticket_id: value for ticket_id, value in rows if value}

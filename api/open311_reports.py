"""Creating an Open311 service request: the one code path for the GeoReport endpoint and the /report page.

Both callers hand over the raw form strings; validation happens here once, so a resident using the
page and an integrator posting to `requests.json` get the same answers for the same input.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from api.geo import City
from api.services import SERVICES
from api.workflow import report
from citysense.settings import ApiSettings

__all__ = ["ReportRefused", "Submitted", "submit_report"]


@dataclass(frozen=True, slots=True)
class Submitted:
    ticket_id: int
    merged: bool
    notice: str


class ReportRefused(ValueError):  # noqa: N818 (the name callers import)
    """A report that cannot be taken: `code` is the HTTP status, `description` what to tell the resident."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


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
    service_request_id: str | None = None,
) -> Submitted:
    """Validate a report and open its ticket; raises ReportRefused with the reason.

    `client` names who posts ("web" for the page, "open311" for the endpoint) and `address` the
    requester's IP, for throttling.
    """
    if not service_code:
        raise ReportRefused(400, "service_code is required")
    if service_code not in SERVICES:
        raise ReportRefused(400, f"unknown service_code {service_code!r}; see services.json")
    latitude = longitude = None
    if lat or long:
        try:
            latitude, longitude = float(lat or ""), float(long or "")
        except ValueError:
            raise ReportRefused(400, "lat and long must both be decimal degrees") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ReportRefused(400, "lat must be within -90..90 and long within -180..180")
    elif not address_string:
        raise ReportRefused(400, "a location is required: lat and long, or address_string")
    district = (
        city.locate(longitude, latitude) if latitude is not None and longitude is not None else None
    ) or "unknown"
    ticket = report(
        sessions,
        service_code=service_code,
        district=district,
        description=description,
        lat=latitude,
        lon=longitude,
        address=address_string,
        contact={k: v for k, v in (contact or {}).items() if v},
    )
    notice = f"Thank you. Follow your report at /tickets/{ticket.id}."
    return Submitted(ticket_id=ticket.id, merged=False, notice=notice)

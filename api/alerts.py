"""Public warnings (flood stages, unhealthy air) from the tickets analytics opened, as CAP 1.2 messages.

A warning is a sensor ticket of a warning service. Its stage is the ticket's severity, which the
ticket policy only ever raises: the first message is an `Alert`, each raise an `Update` that
references every earlier message, and resolving the ticket a `Cancel`. Message identifiers are
derived from the ticket and the stage number, so every API replica gives the same message the same
identifier without storing anything.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from api.geo import City
from citysense.db.models import Ticket, TicketStatus

__all__ = ["CAP_NS", "WARNING_SERVICES", "Warning", "cap_document", "warnings"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# service code -> (CAP category, English event, Indonesian event, English instruction, Indonesian instruction)
WARNING_SERVICES: dict[str, tuple[str, str, str, str, str]] = {
    "flood": (
        "Met",
        "Flood warning",
        "Peringatan banjir",
        "Move valuables and vehicles to higher ground; keep away from the river and drains; follow local officials.",
        "Pindahkan barang berharga dan kendaraan ke tempat yang lebih tinggi; jauhi sungai dan saluran; "
        "ikuti petunjuk petugas setempat.",
    ),
    "air_quality": (
        "Env",
        "Unhealthy air",
        "Udara tidak sehat",
        "Limit time outdoors, keep windows closed, wear a fitted mask outside; children, older people and those "
        "with heart or lung conditions should stay indoors.",
        "Kurangi kegiatan di luar ruangan, tutup jendela, pakai masker yang rapat di luar; anak-anak, lansia dan "
        "penderita penyakit jantung atau paru sebaiknya tetap di dalam ruangan.",
    ),
}
_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_CAP_SEVERITY = {"low": "Minor", "medium": "Moderate", "high": "Severe", "critical": "Extreme"}
_STAGE_ID = {"low": "rendah", "medium": "sedang", "high": "tinggi", "critical": "kritis"}
ENDED_SHOWN_FOR = timedelta(hours=24)  # a Cancel stays in the feed this long after the warning ended


@dataclass(frozen=True, slots=True)
class Stage:
    severity: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Warning:
    ticket_id: int
    service_code: str
    district: str
    stages: tuple[Stage, ...]  # each raise of severity, oldest first
    resolved_at: datetime | None
    peak_value: float
    threshold: float
    quantity: str

    @property
    def active(self) -> bool:
        return self.resolved_at is None

    def identifier(self, n: int | None = None) -> str:
        """Message n (0 = the first Alert); the newest message by default. The Cancel is message len(stages)."""
        last = len(self.stages) - 1 if self.active else len(self.stages)
        return f"citysense-warning-{self.ticket_id}-{last if n is None else n}"

    def sent(self, n: int | None = None) -> datetime:
        last = len(self.stages) - 1 if self.active else len(self.stages)
        n = last if n is None else n
        return self.stages[n].at if n < len(self.stages) else (self.resolved_at or self.stages[-1].at)

    @property
    def msg_type(self) -> str:
        if not self.active:
            return "Cancel"
        return "Alert" if len(self.stages) == 1 else "Update"


def _stages(ticket: Ticket) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    for event in ticket.events:
        severity = (event.data or {}).get("severity")
        if event.kind not in ("opened", "forecast", "updated", "upgraded") or severity not in _RANK:
            continue
        if not stages or _RANK[severity] > _RANK[stages[-1].severity]:
            stages.append(Stage(severity, _utc(event.at)))
    return tuple(stages) or (Stage(ticket.severity, _utc(ticket.opened_at)),)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def warnings(sessions: sessionmaker[Session], *, now: datetime, ticket_id: int | None = None) -> list[Warning]:
    """Active warnings and those ended within the last day (their Cancel), newest first."""
    query = (
        select(Ticket)
        .where(Ticket.service_code.in_(list(WARNING_SERVICES)), Ticket.source == "sensor")
        .options(selectinload(Ticket.events))
    )
    if ticket_id is not None:
        query = query.where(Ticket.id == ticket_id)
    else:
        query = query.where(
            or_(Ticket.status != TicketStatus.RESOLVED, Ticket.resolved_at >= now - ENDED_SHOWN_FOR)
        ).limit(200)
    with sessions() as session:
        rows = session.scalars(query.order_by(Ticket.id.desc())).all()
        return [
            Warning(
                ticket_id=t.id,
                service_code=t.service_code,
                district=t.district,
                stages=_stages(t),
                resolved_at=_utc(t.resolved_at) if t.status == TicketStatus.RESOLVED and t.resolved_at else None,
                peak_value=t.peak_value,
                threshold=t.threshold,
                quantity=t.quantity,
            )
            for t in rows
        ]


def cap_time(when: datetime) -> str:
    """CAP's dateTime: seconds, an explicit offset, no 'Z' and no fractions."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _polygon(city: City, district: str) -> list[str]:
    """The district's outer rings as CAP polygons ('lat,lon' pairs, closed, at least four points)."""
    shape = city.by_slug().get(district)
    if shape is None:
        return []
    rings = []
    for polygon in shape.polygons:
        ring = polygon[0]
        if len(ring) >= 4 and ring[0] == ring[-1]:
            rings.append(" ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in ring))
    return rings


def _sub(parent: ET.Element, tag: str, value: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if value is not None:
        element.text = value
    return element


def cap_document(warning: Warning, city: City, *, base_url: str, sender: str) -> bytes:
    """One CAP 1.2 `<alert>` for the warning's newest message, with English and Indonesian `info` blocks.

    `sender` is the city's CAP identifier (`cap_sender`, checked when the settings are built); it is
    the `<sender>` and the first part of every `<references>` entry.
    """
    category, event_en, event_id, instruction_en, instruction_id = WARNING_SERVICES[warning.service_code]
    district_name = next((d.name for d in city.districts if d.slug == warning.district), warning.district)
    stage = warning.stages[-1]
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", warning.identifier())
    _sub(alert, "sender", sender)
    _sub(alert, "sent", cap_time(warning.sent()))
    _sub(alert, "status", "Actual")
    _sub(alert, "msgType", warning.msg_type)
    _sub(alert, "scope", "Public")
    if warning.msg_type != "Alert":
        last = len(warning.stages) if not warning.active else len(warning.stages) - 1
        _sub(
            alert,
            "references",
            " ".join(f"{sender},{warning.identifier(n)},{cap_time(warning.sent(n))}" for n in range(last)),
        )
    _sub(alert, "incidents", f"citysense-ticket-{warning.ticket_id}")
    page = f"{base_url}/tickets/{warning.ticket_id}"
    expires = None if warning.active else cap_time((warning.resolved_at or stage.at) + timedelta(hours=1))
    texts = (
        (
            "en",
            event_en,
            f"{event_en} in {district_name}"
            + (" has ended" if not warning.active else f": {_CAP_SEVERITY[stage.severity].lower()}"),
            f"Highest reading {warning.peak_value:g}, limit {warning.threshold:g} ({warning.quantity})."
            + (" The city has resolved this warning." if not warning.active else ""),
            "The warning has ended." if not warning.active else instruction_en,
            f"{page}?lang=en",
        ),
        (
            "id",
            event_id,
            f"{event_id} di {district_name}"
            + (" telah berakhir" if not warning.active else f": tingkat {_STAGE_ID[stage.severity]}"),
            f"Pembacaan tertinggi {warning.peak_value:g}, batas {warning.threshold:g} ({warning.quantity})."
            + (" Kota telah menyelesaikan peringatan ini." if not warning.active else ""),
            "Peringatan telah berakhir." if not warning.active else instruction_id,
            f"{page}?lang=id",
        ),
    )
    for language, event, headline, description, instruction, web in texts:
        info = _sub(alert, "info")
        _sub(info, "language", language)
        _sub(info, "category", category)
        _sub(info, "event", event)
        _sub(info, "responseType", "AllClear" if not warning.active else "Prepare")
        _sub(info, "urgency", "Past" if not warning.active else "Immediate")
        _sub(info, "severity", "Minor" if not warning.active else _CAP_SEVERITY.get(stage.severity, "Unknown"))
        _sub(info, "certainty", "Observed")
        _sub(info, "effective", cap_time(warning.sent()))
        if expires is not None:
            _sub(info, "expires", expires)
        _sub(info, "senderName", "citysense")
        _sub(info, "headline", headline)
        _sub(info, "description", description)
        _sub(info, "instruction", instruction)
        _sub(info, "web", web)
        area = _sub(info, "area")
        _sub(area, "areaDesc", district_name)
        for ring in _polygon(city, warning.district):
            _sub(area, "polygon", ring)
    ET.register_namespace("", CAP_NS)
    body: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True)
    return body

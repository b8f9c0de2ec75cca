"""The console's ticket queue: one page of tickets under the chosen filters, and the filter counts.

Counts are faceted: each filter's counts apply every other filter, so an operator sees how many
tickets picking a value would leave. Only a page of rows is loaded (columns, no timelines); the
counts are GROUP BYs the database answers from its indexes on status, district and service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.queries import agency_filter
from api.services import SERVICES, agency_of
from citysense.db.models import Ticket, TicketStatus

__all__ = ["FACETS", "SORTS", "QueueFilters", "QueuePage", "QueueRow", "queue_page"]

SEVERITIES = ("low", "medium", "high", "critical")
SOURCES = ("sensor", "resident", "anomaly")
STATES = tuple(s.value for s in TicketStatus)
UNRESOLVED = "unresolved"  # the default status filter: everything not yet resolved

# Where a ticket came from: residents, a rule on a sensor, or the general anomaly detector (its own service).
SOURCE = case((Ticket.service_code == "anomaly", "anomaly"), else_=Ticket.source)
_SEVERITY_RANK = case({name: rank for rank, name in enumerate(SEVERITIES)}, value=Ticket.severity, else_=-1)
SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (Ticket.opened_at.desc(), Ticket.id.desc()),
    "oldest": (Ticket.opened_at.asc(), Ticket.id.asc()),
    "updated": (Ticket.updated_at.desc(), Ticket.id.desc()),
    "severity": (_SEVERITY_RANK.desc(), Ticket.opened_at.desc(), Ticket.id.desc()),
}
FACETS = ("status", "district", "service_code", "severity", "source", "agency")


@dataclass(frozen=True, slots=True)
class QueueFilters:
    status: str | None = UNRESOLVED
    district: str | None = None
    service_code: str | None = None
    severity: str | None = None
    source: str | None = None
    agency: str | None = None


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    title: str
    service_code: str
    agency: str
    district: str
    severity: str
    status: str
    source: str
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    lat: float | None
    lon: float | None


@dataclass(slots=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    newest_id: int = 0


def _conditions(filters: QueueFilters, *, without: str | None = None) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if without != "status" and filters.status is not None:
        if filters.status == UNRESOLVED:  # IN, not !=, so the (status, opened_at) index serves it
            found.append(Ticket.status.in_([s for s in STATES if s != TicketStatus.RESOLVED.value]))
        else:
            found.append(Ticket.status == filters.status)
    for name, column in (
        ("district", Ticket.district),
        ("service_code", Ticket.service_code),
        ("severity", Ticket.severity),
        ("source", SOURCE),
    ):
        value = getattr(filters, name)
        if without != name and value is not None:
            found.append(column == value)
    if without != "agency" and filters.agency is not None:
        found.append(agency_filter(filters.agency))
    return found


_FACET_COLUMNS: dict[str, Any] = {
    "status": Ticket.status,
    "district": Ticket.district,
    "service_code": Ticket.service_code,
    "severity": Ticket.severity,
    "source": SOURCE,
}


def _counts(
    session: Session, filters: QueueFilters, scope: list[ColumnElement[bool]]
) -> tuple[dict[str, dict[str, int]], int]:
    """Faceted counts and the total under every filter.

    Facets nobody filters on share the full filter, so one GROUP BY over all of them serves them all
    (and the total); only a facet with a chosen value needs its own query without that filter.
    """
    counts: dict[str, dict[str, int]] = {name: {} for name in _FACET_COLUMNS}
    columns = list(_FACET_COLUMNS.values())
    combined = session.execute(
        select(*columns, func.count()).where(*scope, *_conditions(filters)).group_by(*columns)
    ).all()
    total = 0
    for row in combined:
        n = int(row[-1])
        total += n
        for name, value in zip(_FACET_COLUMNS, row[:-1], strict=True):
            counts[name][str(value)] = counts[name].get(str(value), 0) + n
    by_code = counts["service_code"]  # under every filter: the agency counts when no agency is chosen
    for name, column in _FACET_COLUMNS.items():
        if getattr(filters, name) is None:
            continue
        query = select(column, func.count()).where(*scope, *_conditions(filters, without=name)).group_by(column)
        counts[name] = {str(value): int(n) for value, n in session.execute(query).all()}
    # An agency is a set of service codes: its count adds up the codes' counts without that filter.
    if filters.agency is not None:
        by_code = {
            str(code): int(n)
            for code, n in session.execute(
                select(Ticket.service_code, func.count())
                .where(*scope, *_conditions(filters, without="agency"))
                .group_by(Ticket.service_code)
            ).all()
        }
    agencies: dict[str, int] = {}
    for code, n in by_code.items():
        agencies[agency_of(code)] = agencies.get(agency_of(code), 0) + n
    counts["agency"] = agencies
    counts["status"][UNRESOLVED] = sum(n for s, n in counts["status"].items() if s != TicketStatus.RESOLVED.value)
    return counts, total


def queue_page(
    sessions: sessionmaker[Session],
    filters: QueueFilters,
    *,
    visible_agency: str | None,
    sort: str = "newest",
    limit: int = 100,
    offset: int = 0,
) -> QueuePage:
    """One page of the queue and its counts; `visible_agency` confines everything to one agency."""
    scope = [agency_filter(visible_agency)] if visible_agency is not None else []
    where = [*scope, *_conditions(filters)]
    columns = (
        Ticket.id,
        Ticket.title,
        Ticket.service_code,
        Ticket.district,
        Ticket.severity,
        Ticket.status,
        SOURCE.label("source"),
        Ticket.assignee,
        Ticket.opened_at,
        Ticket.updated_at,
        Ticket.lat,
        Ticket.lon,
    )
    with sessions() as session:
        rows = session.execute(select(*columns).where(*where).order_by(*SORTS[sort]).limit(limit).offset(offset)).all()
        counts, total = _counts(session, filters, scope)
        newest = session.scalar(select(func.max(Ticket.id)).where(*scope)) or 0
    found = [
        QueueRow(
            id=r.id,
            title=r.title,
            service_code=r.service_code,
            agency=agency_of(r.service_code),
            district=r.district,
            severity=r.severity,
            status=r.status,
            source=r.source,
            assignee=r.assignee,
            opened_at=r.opened_at,
            updated_at=r.updated_at,
            lat=r.lat,
            lon=r.lon,
        )
        for r in rows
    ]
    return QueuePage(rows=found, total=total, counts=counts, newest_id=newest)


def known_values() -> dict[str, tuple[str, ...]]:
    """Values offered in the filter menus even when nothing has that value right now."""
    from citysense.keys import AGENCIES

    return {
        "status": (UNRESOLVED, *STATES),
        "service_code": tuple(SERVICES),
        "severity": SEVERITIES,
        "source": SOURCES,
        "agency": tuple(AGENCIES),
    }

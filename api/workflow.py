"""The ticket state machine operators drive, and resident reports that become tickets.

    open --acknowledge--> acknowledged --assign--> assigned --resolve--> resolved --reopen--> open
      |                        |                     ^  |
      +--------assign----------+---------------------+  +--assign (reassign)
      +--------resolve-----------------------------------------> resolved

Analytics still opens tickets as `open`, adds evidence to any unresolved one and resolves quiet
ones whatever their step, so its policy and this machine share the table without knowing of
each other. Every change adds a timeline step (what residents see) and an audit entry (who, when),
in the same transaction as the change itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.services import SERVICES, agency_of
from citysense.db.models import FalseAlarm, Ticket, TicketEvent, TicketStatus
from citysense.keys import Principal, audit

__all__ = [
    "ACTIONS",
    "InvalidTransitionError",
    "TicketNotFoundError",
    "apply_action",
    "confirm_anomaly",
    "mark_false_alarm",
    "report",
]

ANOMALY = "anomaly"  # the service code of tickets the general anomaly detector opens
OPEN, ACK, ASSIGNED, RESOLVED = (
    TicketStatus.OPEN.value,
    TicketStatus.ACKNOWLEDGED.value,
    TicketStatus.ASSIGNED.value,
    TicketStatus.RESOLVED.value,
)

# action -> (states it may start from, state it leads to; None keeps the state)
ACTIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "acknowledge": (frozenset({OPEN}), ACK),
    "assign": (frozenset({OPEN, ACK, ASSIGNED}), ASSIGNED),
    "comment": (frozenset({OPEN, ACK, ASSIGNED, RESOLVED}), None),
    "resolve": (frozenset({OPEN, ACK, ASSIGNED}), RESOLVED),
    "reopen": (frozenset({RESOLVED}), OPEN),
}

_STEP_KIND = {
    "acknowledge": "acknowledged",
    "assign": "assigned",
    "comment": "comment",
    "resolve": "resolved",
    "reopen": "reopened",
}


class TicketNotFoundError(LookupError):
    """No such ticket, or not one the caller's agency may see."""


class InvalidTransitionError(ValueError):
    """The action is not allowed from the ticket's current state (the API answers 409)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


def _message(action: str, ticket: Ticket, params: dict[str, Any]) -> str:
    note = params.get("note")
    suffix = f" {note}" if note else ""
    agency = agency_of(ticket.service_code).replace("_", " ")
    if action == "acknowledge":
        return f"The {agency} agency has seen this ticket and is looking into it.{suffix}"
    if action == "assign":
        expected = params.get("expected_completion_at")
        when = f" Expected completion: {expected:%Y-%m-%d %H:%M} UTC." if expected else ""
        return f"A crew of the {agency} agency has been assigned.{when}{suffix}"
    if action == "comment":
        return str(params["message"])
    if action == "resolve":
        return f"Resolved by the {agency} agency.{suffix}"
    return f"Reopened by the {agency} agency.{suffix}"


def apply_action(
    sessions: sessionmaker[Session], ticket_id: int, action: str, principal: Principal, **params: Any
) -> Ticket:
    """Apply one action to a ticket, or raise; the ticket is returned with its events loaded."""
    allowed_from, target = ACTIONS[action]
    now = datetime.now(UTC)
    try:
        with sessions.begin() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or (principal.agency is not None and agency_of(ticket.service_code) != principal.agency):
                raise TicketNotFoundError(f"no ticket {ticket_id}")
            if ticket.status not in allowed_from:
                allowed = ", ".join(sorted(allowed_from))
                raise InvalidTransitionError(
                    f"cannot {action} a ticket that is {ticket.status} (allowed from: {allowed})",
                    status=ticket.status,
                )
            before = ticket.status
            if target is not None:
                ticket.status = target
            if action == "assign":
                ticket.assignee = params["assignee"]
                ticket.expected_completion_at = params.get("expected_completion_at")
            if action == "resolve":
                ticket.resolved_at = now
            if action == "reopen":
                ticket.resolved_at = None
                ticket.last_breach_at = now  # a fresh quiet period before analytics may resolve it again
            ticket.updated_at = max(now, ticket.updated_at)
            data: dict[str, Any] = {"actor": principal.name}
            if action == "comment":
                data["public"] = bool(params.get("public"))
            if action == "assign":
                data["assignee"] = params["assignee"]
            ticket.events.append(
                TicketEvent(at=now, kind=_STEP_KIND[action], message=_message(action, ticket, params), data=data)
            )
            details = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in params.items()}
            audit(session, principal.name, f"ticket.{action}", "ticket", str(ticket_id), {"from": before, **details})
            session.flush()
            _ = ticket.events  # loaded before the session closes
    except IntegrityError as exc:
        # Reopening collides with a newer unresolved ticket for the same incident.
        raise InvalidTransitionError(
            f"cannot reopen ticket {ticket_id}: a newer ticket for the same incident is open", status=RESOLVED
        ) from exc
    return ticket


def report(
    sessions: sessionmaker[Session],
    *,
    service_code: str,
    district: str,
    description: str | None,
    lat: float | None,
    lon: float | None,
    address: str | None,
    contact: dict[str, str],
) -> Ticket:
    """A resident's Open311 request, opened as a ticket of its own (never merged with sensor incidents)."""
    service = SERVICES[service_code]
    now = datetime.now(UTC)
    where = district.replace("-", " ") if district != "unknown" else (address or "the city")
    with sessions.begin() as session:
        ticket = Ticket(
            dedupe_key=f"open311:{uuid.uuid4().hex}",
            service_code=service_code,
            title=f"{service.name} reported in {where}",
            district=district,
            severity="medium",
            status=TicketStatus.OPEN,
            quantity="",
            threshold=0.0,
            peak_value=0.0,
            devices=[],
            opened_at=now,
            updated_at=now,
            last_breach_at=now,
            source="resident",
            description=description,
            lat=lat,
            lon=lon,
            address=address,
        )
        ticket.events.append(
            TicketEvent(
                at=now,
                kind="reported",
                message=f"A resident reported: {description}" if description else "A resident reported this.",
                # Contact details stay internal: the public timeline shows only the message.
                data={"contact": contact},
            )
        )
        session.add(ticket)
        session.flush()
        audit(session, "open311", "ticket.report", "ticket", str(ticket.id), {"service_code": service_code})
        _ = ticket.events
    return ticket


# --------------------------------------------------------------------------- anomaly tickets (issue 14)


def _anomaly_ticket(session: Session, ticket_id: int, principal: Principal, action: str) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or (principal.agency is not None and agency_of(ticket.service_code) != principal.agency):
        raise TicketNotFoundError(f"no ticket {ticket_id}")
    if ticket.service_code != ANOMALY:
        raise InvalidTransitionError(
            f"only anomaly tickets can be {action}; ticket {ticket_id} is {ticket.service_code}", status=ticket.status
        )
    return ticket


def confirm_anomaly(
    sessions: sessionmaker[Session], ticket_id: int, principal: Principal, *, note: str | None = None
) -> Ticket:
    """An operator has looked: the unusual readings are real, so residents may see the ticket now."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        ticket = _anomaly_ticket(session, ticket_id, principal, "confirmed")
        if any(e.kind == "false_alarm" for e in ticket.events):
            raise InvalidTransitionError(f"ticket {ticket_id} was marked a false alarm", status=ticket.status)
        if not ticket.public:
            ticket.public = True
            ticket.updated_at = max(now, ticket.updated_at)
            suffix = f" {note}" if note else ""
            ticket.events.append(
                TicketEvent(
                    at=now,
                    kind="confirmed",
                    message="An operator checked these unusual readings and confirmed them; an inspection follows."
                    + suffix,
                    data={"actor": principal.name},
                )
            )
            audit(session, principal.name, "ticket.confirm", "ticket", str(ticket_id), {"note": note})
        session.flush()
        _ = ticket.events
    return ticket


def _deviation(ticket: Ticket) -> float:
    """The largest deviation from the expected band the ticket's evidence recorded."""
    found = [
        float(e.data["evidence"]["deviation"])
        for e in ticket.events
        if isinstance(e.data.get("evidence"), dict) and isinstance(e.data["evidence"].get("deviation"), int | float)
    ]
    return max(found, default=0.0)


def mark_false_alarm(
    sessions: sessionmaker[Session], ticket_id: int, principal: Principal, *, note: str | None = None
) -> Ticket:
    """The readings were normal after all: record it (analytics learns it for that series) and resolve."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        ticket = _anomaly_ticket(session, ticket_id, principal, "marked a false alarm")
        if session.query(FalseAlarm).filter(FalseAlarm.ticket_id == ticket_id).first() is not None:
            raise InvalidTransitionError(f"ticket {ticket_id} is already marked a false alarm", status=ticket.status)
        deviation = _deviation(ticket)
        for device_id in ticket.devices or [""]:
            session.add(
                FalseAlarm(
                    ticket_id=ticket_id,
                    device_id=device_id,
                    quantity=ticket.quantity,
                    deviation=deviation,
                    marked_by=principal.name,
                    marked_at=now,
                    note=note,
                )
            )
        before = ticket.status
        if ticket.status != RESOLVED:
            ticket.status = RESOLVED
            ticket.resolved_at = now
        ticket.updated_at = max(now, ticket.updated_at)
        suffix = f" {note}" if note else ""
        ticket.events.append(
            TicketEvent(
                at=now,
                kind="false_alarm",
                message=f"An operator found these readings normal: a false alarm. Resolved.{suffix}",
                data={"actor": principal.name, "deviation": deviation},
            )
        )
        audit(
            session,
            principal.name,
            "ticket.false_alarm",
            "ticket",
            str(ticket_id),
            {"from": before, "deviation": deviation, "note": note},
        )
        session.flush()
        _ = ticket.events
    return ticket

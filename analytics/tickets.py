"""The ticket policy: turns breaches into tickets, one per incident, and resolves quiet ones.

An incident is one service problem in one district (a flood in Riverside), however many gauges
and readings confirm it; its dedupe key finds the open ticket. Times come from the readings, so
an accelerated simulation and a live city behave the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analytics.rules import Breach
from citysense.db import Device, Ticket, TicketEvent, TicketStatus

__all__ = ["TicketChange", "TicketPolicy"]

log = logging.getLogger(__name__)

_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class TicketChange:
    """What happened to a ticket, for the `cs/v1/tickets` event stream."""

    event: str
    ticket_id: int
    summary: dict[str, Any]


def _at(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, UTC)


def summarize(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "service_code": ticket.service_code,
        "title": ticket.title,
        "district": ticket.district,
        "severity": ticket.severity,
        "status": ticket.status,
        "opened_at": ticket.opened_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
    }


class TicketPolicy:
    """Thread-safe: the MQTT thread reports breaches while a timer resolves quiet tickets."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        quiet_period_s: float,
        on_change: Callable[[TicketChange], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._quiet_s = quiet_period_s
        self._on_change = on_change
        self._lock = threading.Lock()
        self._districts: dict[str, str] = {}

    def district_of(self, device_id: str) -> str:
        """The device's district from the registry, cached; unknown devices count as 'unknown'."""
        district = self._districts.get(device_id)
        if district is None:
            with self._sessions() as session:
                device = session.get(Device, device_id)
            district = device.district if device is not None else "unknown"
            if device is not None:
                self._districts[device_id] = district
        return district

    def observe(self, breach: Breach) -> TicketChange | None:
        """Open a ticket for a new incident, or add this breach to the open one."""
        reading = breach.reading
        district = self.district_of(reading.device_id)
        key = f"{breach.rule.service_code}:{district}"
        when = _at(reading.time_ms)
        with self._lock, self._sessions.begin() as session:
            ticket = session.scalars(
                select(Ticket).where(Ticket.dedupe_key == key, Ticket.status != TicketStatus.RESOLVED)
            ).one_or_none()
            change: TicketChange | None
            if ticket is None:
                change = self._open(session, key, district, breach, when)
            else:
                change = self._update(session, ticket, breach, when)
        if change is not None:
            self._emit(change)
        return change

    def _open(self, session: Session, key: str, district: str, breach: Breach, when: datetime) -> TicketChange:
        reading = breach.reading
        ticket = Ticket(
            dedupe_key=key,
            service_code=breach.rule.service_code,
            title=f"{breach.rule.title} in {district}",
            district=district,
            severity=breach.severity,
            status=TicketStatus.OPEN,
            quantity=reading.quantity,
            threshold=breach.rule.threshold,
            peak_value=reading.value,
            devices=[reading.device_id],
            opened_at=when,
            updated_at=when,
            last_breach_at=when,
        )
        ticket.events.append(
            TicketEvent(
                at=when,
                kind="opened",
                message=f"Sensor {reading.device_id} measured {reading.quantity} {reading.value:g} "
                f"{reading.unit}, above the limit of {breach.rule.threshold:g}. The city opened this ticket.",
                data={"device_id": reading.device_id, "value": reading.value, "severity": breach.severity},
            )
        )
        session.add(ticket)
        session.flush()
        log.info("opened ticket %s (%s, %s)", ticket.id, key, breach.severity)
        return TicketChange("opened", ticket.id, summarize(ticket))

    def _update(self, session: Session, ticket: Ticket, breach: Breach, when: datetime) -> TicketChange | None:
        reading = breach.reading
        notes: list[str] = []
        if when > ticket.last_breach_at:
            ticket.last_breach_at = when
        if reading.value > ticket.peak_value:
            ticket.peak_value = reading.value
        if reading.device_id not in ticket.devices:
            ticket.devices = [*ticket.devices, reading.device_id]
            notes.append(f"Sensor {reading.device_id} confirms it ({reading.value:g} {reading.unit}).")
        if _SEVERITY_RANK[breach.severity] > _SEVERITY_RANK[ticket.severity]:
            notes.append(f"Severity raised from {ticket.severity} to {breach.severity}.")
            ticket.severity = breach.severity
        if not notes:
            return None
        ticket.updated_at = max(when, ticket.updated_at)
        ticket.events.append(
            TicketEvent(at=when, kind="updated", message=" ".join(notes), data={"device_id": reading.device_id})
        )
        return TicketChange("updated", ticket.id, summarize(ticket))

    def resolve_quiet(self, now: datetime) -> list[TicketChange]:
        """Resolve every open ticket with no breach for the quiet period."""
        changes: list[TicketChange] = []
        with self._lock, self._sessions.begin() as session:
            for ticket in session.scalars(select(Ticket).where(Ticket.status != TicketStatus.RESOLVED)):
                if (now - ticket.last_breach_at).total_seconds() < self._quiet_s:
                    continue
                ticket.status = TicketStatus.RESOLVED
                ticket.resolved_at = now
                ticket.updated_at = now
                minutes = self._quiet_s / 60
                ticket.events.append(
                    TicketEvent(
                        at=now,
                        kind="resolved",
                        message=f"Readings have been back to normal for {minutes:g} minutes. Resolved.",
                        data={},
                    )
                )
                session.flush()
                log.info("resolved ticket %s (%s)", ticket.id, ticket.dedupe_key)
                changes.append(TicketChange("resolved", ticket.id, summarize(ticket)))
        for change in changes:
            self._emit(change)
        return changes

    def _emit(self, change: TicketChange) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(change)
        except Exception:  # a failed notification must not undo or block the ticket itself
            log.exception("could not publish ticket event %s for ticket %s", change.event, change.ticket_id)

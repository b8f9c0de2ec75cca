"""The ticket policy: findings in, tickets out. Separate from the detectors, which only score.

- One ticket per incident: the finding's dedupe key (service and district, or service and device)
  finds the open ticket; the database refuses a second one even if two writers race.
- A forecast opens a ticket *before* the threshold is crossed (severity medium) and the ticket is
  upgraded when the threshold is crossed; a forecast that does not come true resolves quietly.
- Severity only rises while a ticket is open; new devices confirming it are added to it.
- Auto-resolve after a quiet period with no finding, but only tickets analytics opened and no
  operator has taken over (status still `open`); acknowledged or assigned tickets are the operators'.
- Maintenance windows suppress tickets for what they cover.
- Audit trail: every change is a timeline step (`ticket_events`, what residents see) and an
  `audit_log` entry by actor `analytics`, in the same transaction as the change.
Times come from the readings, so an accelerated simulation and a live city behave the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analytics.findings import Finding
from analytics.maintenance import Window, active_windows
from citysense.db import Ticket, TicketEvent, TicketStatus
from citysense.db.models import AuditEntry

__all__ = ["ACTOR", "TicketChange", "TicketPolicy", "summarize"]

log = logging.getLogger(__name__)

ACTOR = "analytics"
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_FLUSH_MS = 300_000  # how often an open ticket's last-breach time is written back while it stays busy


@dataclass(frozen=True, slots=True)
class TicketChange:
    """What happened to a ticket, for the `cs/v1/tickets` event stream."""

    event: str
    ticket_id: int
    summary: dict[str, Any]


@dataclass(slots=True)
class _Open:
    """The policy's memory of an open ticket, so that a busy incident costs no query per reading."""

    ticket_id: int
    kind: str
    severity: str
    devices: set[str]
    detectors: set[str]
    peak: float
    last_ms: int
    flushed_ms: int
    opened_ms: int
    upgraded: bool = False
    quiet_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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
        "dedupe_key": ticket.dedupe_key,
        "devices": list(ticket.devices),
        "opened_at": ticket.opened_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
    }


def _describe(f: Finding) -> str:
    if f.kind == "forecast":
        eta = f.evidence.get("forecast", {}).get("eta_s")
        when = f" in about {round(eta / 60)} minutes" if isinstance(eta, int | float) else " soon"
        return (
            f"Sensor {f.device_id} measures {f.quantity} {f.value:g}, rising: at this rate it crosses "
            f"the limit of {f.threshold:g}{when}. The city opened this ticket before it happens."
        )
    if f.kind == "anomaly":
        band = f.evidence.get("expected", {})
        usual = f" (usually {band['low']:.4g} to {band['high']:.4g})" if {"low", "high"} <= band.keys() else ""
        return (
            f"Sensor {f.device_id} reads unusual {f.quantity} values: {f.value:g}{usual}. "
            "Nobody wrote a rule for this; an inspection should find out why."
        )
    if f.kind == "fault":
        return f"Sensor {f.device_id} looks faulty ({f.detector}, score {f.score:.1f}). A technician should check it."
    below = "below" if f.detector == "rule:lamp_out" else "above"
    return (
        f"Sensor {f.device_id} measured {f.quantity} {f.value:g}, {below} the limit of {f.threshold:g}. "
        "The city opened this ticket."
    )


class TicketPolicy:
    """Thread-safe: the MQTT thread reports findings while a timer resolves quiet tickets."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        quiet_period_s: float,
        on_change: Callable[[TicketChange], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._quiet_ms = int(quiet_period_s * 1000)
        self._on_change = on_change
        self._lock = threading.RLock()
        self._open: dict[str, _Open] = {}
        self._windows: list[Window] = []
        self.suppressed = 0

    # ------------------------------------------------------------------ maintenance

    def refresh_maintenance(self, now: datetime) -> None:
        """Reload the maintenance windows (cheap; call every minute or so)."""
        windows = active_windows(self._sessions, not_before=now - timedelta(days=1))
        with self._lock:
            self._windows = windows

    def _suppressed(self, f: Finding) -> Window | None:
        for window in self._windows:
            if window.covers(
                district=f.district, device_id=f.device_id, service_code=f.service_code, time_ms=f.time_ms
            ):
                return window
        return None

    # ------------------------------------------------------------------ findings

    def observe(self, finding: Finding) -> TicketChange | None:
        """Open a ticket for a new incident, or add this finding to the open one."""
        with self._lock:
            if self._windows and self._suppressed(finding) is not None:
                self.suppressed += 1
                return None
            key = finding.dedupe_key
            known = self._open.get(key)
            if known is not None:
                known.quiet_ms = max(known.quiet_ms, self._quiet_of(finding))
            if known is not None and self._is_routine(known, finding):
                known.last_ms = max(known.last_ms, finding.time_ms)
                known.peak = max(known.peak, finding.value)
                return None
            with self._sessions.begin() as session:
                ticket = session.scalars(
                    select(Ticket).where(Ticket.dedupe_key == key, Ticket.status != TicketStatus.RESOLVED)
                ).one_or_none()
                change = self._create(session, finding) if ticket is None else self._update(session, ticket, finding)
        if change is not None:
            self._emit(change)
        return change

    def _quiet_of(self, f: Finding) -> int:
        """The quiet period for this finding's ticket: at least three of the device's reporting intervals."""
        return max(self._quiet_ms, round(3 * f.interval_s * 1000), round(f.hold_s * 1000))

    def _is_routine(self, known: _Open, f: Finding) -> bool:
        """Nothing new to write: same devices, severity not higher, no upgrade, flushed recently."""
        if f.device_id not in known.devices or f.detector not in known.detectors:
            return False
        if _SEVERITY_RANK.get(f.severity, 0) > _SEVERITY_RANK.get(known.severity, 0):
            return False
        if known.kind == "forecast" and f.kind == "breach":
            return False
        return f.time_ms - known.flushed_ms < _FLUSH_MS

    def _create(self, session: Session, f: Finding) -> TicketChange:
        when = _at(f.time_ms)
        title = f"{f.title} in {f.district}" if f.scope == "district" else f"{f.title}: {f.device_id} ({f.district})"
        ticket = Ticket(
            dedupe_key=f.dedupe_key,
            service_code=f.service_code,
            title=title[:200],
            district=f.district,
            severity=f.severity,
            status=TicketStatus.OPEN,
            quantity=f.quantity or "none",
            threshold=f.threshold,
            peak_value=f.value,
            devices=[f.device_id],
            opened_at=when,
            updated_at=when,
            last_breach_at=when,
            source="sensor",
            public=f.public,
        )
        kind = "forecast" if f.kind == "forecast" else "opened"
        data = self._data(f)
        ticket.events.append(TicketEvent(at=when, kind=kind, message=_describe(f), data=data))
        session.add(ticket)
        session.flush()
        self._audit(session, ticket, "ticket.opened", {"finding": f.kind, **data})
        self._open[f.dedupe_key] = _Open(
            ticket.id,
            f.kind,
            f.severity,
            {f.device_id},
            {f.detector},
            f.value,
            f.time_ms,
            f.time_ms,
            f.time_ms,
            quiet_ms=self._quiet_of(f),
        )
        log.info(
            "opened ticket %s (%s, %s, %s)",
            ticket.id,
            f.dedupe_key,
            f.kind,
            f.severity,
            extra={"ticket_id": ticket.id, "device_id": f.device_id},
        )
        return TicketChange("opened", ticket.id, summarize(ticket))

    def _update(self, session: Session, ticket: Ticket, f: Finding) -> TicketChange | None:
        when = _at(f.time_ms)
        known = self._open.get(f.dedupe_key)
        if known is None or known.ticket_id != ticket.id:
            # Opened before a restart, or by another analytics process: learn it from the row.
            kinds = {e.kind for e in ticket.events}
            known = _Open(
                ticket.id,
                "forecast" if "forecast" in kinds and "upgraded" not in kinds else "breach",
                ticket.severity,
                set(ticket.devices),
                set(),
                ticket.peak_value,
                round(ticket.last_breach_at.timestamp() * 1000),
                0,
                round(ticket.opened_at.timestamp() * 1000),
            )
            self._open[f.dedupe_key] = known
        known.quiet_ms = max(known.quiet_ms, self._quiet_of(f))
        notes: list[str] = []
        event_kind = "updated"
        if known.kind == "forecast" and f.kind == "breach":
            lead_min = (f.time_ms - known.opened_ms) / 60_000
            notes.append(
                f"The forecast came true: {f.quantity} reached {f.value:g} (limit {f.threshold:g}), "
                f"{lead_min:.0f} minutes after this ticket was opened."
            )
            known.kind, known.upgraded, event_kind = "breach", True, "upgraded"
            ticket.title = (f"{f.title} in {f.district}" if f.scope == "district" else ticket.title)[:200]
        if when > ticket.last_breach_at:
            ticket.last_breach_at = when
        if f.value > ticket.peak_value and f.kind != "fault":
            ticket.peak_value = f.value
        if f.device_id not in ticket.devices:
            ticket.devices = [*ticket.devices, f.device_id]
            notes.append(f"Sensor {f.device_id} confirms it ({f.quantity} {f.value:g}).")
        if _SEVERITY_RANK.get(f.severity, 0) > _SEVERITY_RANK.get(ticket.severity, 0):
            notes.append(f"Severity raised from {ticket.severity} to {f.severity}.")
            ticket.severity = f.severity
        if f.detector not in known.detectors and known.detectors and f.kind == "fault":
            notes.append(f"Also seen by the {f.detector} check.")
        known.devices.add(f.device_id)
        known.detectors.add(f.detector)
        known.severity = ticket.severity
        known.last_ms = max(known.last_ms, f.time_ms)
        known.flushed_ms = f.time_ms
        known.peak = max(known.peak, f.value)
        if not notes:
            return None
        ticket.updated_at = max(when, ticket.updated_at)
        data = self._data(f)
        ticket.events.append(TicketEvent(at=when, kind=event_kind, message=" ".join(notes), data=data))
        session.flush()
        self._audit(session, ticket, f"ticket.{event_kind}", {"notes": notes, **data})
        return TicketChange(event_kind, ticket.id, summarize(ticket))

    @staticmethod
    def _data(f: Finding) -> dict[str, Any]:
        return {
            "device_id": f.device_id,
            "value": f.value,
            "severity": f.severity,
            "detector": f.detector,
            "score": round(f.score, 3),
            "finding": f.kind,
            "evidence": f.evidence,
        }

    @staticmethod
    def _audit(session: Session, ticket: Ticket, action: str, details: dict[str, Any]) -> None:
        details = {k: v for k, v in details.items() if k != "evidence"}
        session.add(
            AuditEntry(actor=ACTOR, action=action, target_type="ticket", target_id=str(ticket.id), details=details)
        )

    # ------------------------------------------------------------------ quiet tickets

    def resolve_quiet(self, now: datetime) -> list[TicketChange]:
        """Resolve open tickets with no finding for the quiet period, that analytics still owns."""
        now_ms = round(now.timestamp() * 1000)
        changes: list[TicketChange] = []
        with self._lock, self._sessions.begin() as session:
            for ticket in session.scalars(select(Ticket).where(Ticket.status != TicketStatus.RESOLVED)):
                known = self._open.get(ticket.dedupe_key)
                last_ms = round(ticket.last_breach_at.timestamp() * 1000)
                quiet_ms = self._quiet_ms
                if known is not None and known.ticket_id == ticket.id:
                    last_ms = max(last_ms, known.last_ms)
                    quiet_ms = max(quiet_ms, known.quiet_ms)
                if now_ms - last_ms < quiet_ms:
                    continue
                if ticket.source != "sensor" or ticket.status != TicketStatus.OPEN:
                    continue  # an operator's ticket, or one an operator has taken over
                forecast_only = known is not None and known.kind == "forecast"
                ticket.status = TicketStatus.RESOLVED
                ticket.resolved_at = now
                ticket.updated_at = now
                minutes = quiet_ms / 60_000
                message = (
                    f"The forecast did not come true: no rise past the limit for {minutes:g} minutes. Resolved."
                    if forecast_only
                    else f"Readings have been back to normal for {minutes:g} minutes. Resolved."
                )
                ticket.events.append(TicketEvent(at=now, kind="resolved", message=message, data={}))
                session.flush()
                self._audit(session, ticket, "ticket.resolved", {"quiet_minutes": minutes})
                self._open.pop(ticket.dedupe_key, None)
                log.info("resolved ticket %s (%s)", ticket.id, ticket.dedupe_key, extra={"ticket_id": ticket.id})
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
            log.exception(
                "could not publish ticket event %s for ticket %s",
                change.event,
                change.ticket_id,
                extra={"ticket_id": change.ticket_id},
            )

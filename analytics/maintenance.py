"""Maintenance windows: planned work during which analytics opens no tickets for what it covers.

A window covers a district, a device, or everything (both empty), for one service code or all,
between two times. Readings still flow and detectors still learn; only tickets are held back, and
each suppressed finding is counted so operators can see what the window hid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

# The model lives with the other tables; planning, listing and ending windows (audited) is
# citysense.maintenance: analytics only reads them.
from citysense.db.models import MaintenanceWindow

__all__ = ["MaintenanceWindow", "Window", "active_windows"]


@dataclass(frozen=True, slots=True)
class Window:
    """A window as the policy checks it (plain values, epoch ms)."""

    id: int
    district: str | None
    device_id: str | None
    service_code: str | None
    start_ms: int
    end_ms: int
    reason: str

    def covers(self, *, district: str, device_id: str, service_code: str, time_ms: int) -> bool:
        return (
            self.start_ms <= time_ms < self.end_ms
            and (self.district is None or self.district == district)
            and (self.device_id is None or self.device_id == device_id)
            and (self.service_code is None or self.service_code == service_code)
        )


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def active_windows(sessions: sessionmaker[Session], *, not_before: datetime) -> list[Window]:
    """Windows that end after `not_before` (the ones that can still cover something)."""
    with sessions() as session:
        rows = session.scalars(select(MaintenanceWindow).where(MaintenanceWindow.ends_at > not_before)).all()
    return [
        Window(r.id, r.district, r.device_id, r.service_code, _ms(r.starts_at), _ms(r.ends_at), r.reason) for r in rows
    ]

"""Operators' false-alarm marks, read back from the tickets database to teach the detectors.

The API records a mark (`false_alarms`, with the deviation the ticket showed); analytics reads new
marks every `feedback_refresh_s` and, after a restart, all of them, so a series keeps what it was
taught. Reading from the database rather than a message keeps the API and analytics independent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citysense.db.models import FalseAlarm

__all__ = ["FeedbackReader", "Lesson"]


@dataclass(frozen=True, slots=True)
class Lesson:
    device_id: str
    quantity: str
    deviation: float


class FeedbackReader:
    """Hands out each recorded mark once, oldest first."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._after_id = 0

    def new(self, limit: int = 1000) -> list[Lesson]:
        with self._sessions() as session:
            rows = session.execute(
                select(FalseAlarm.id, FalseAlarm.device_id, FalseAlarm.quantity, FalseAlarm.deviation)
                .where(FalseAlarm.id > self._after_id)
                .order_by(FalseAlarm.id)
                .limit(limit)
            ).all()
        if rows:
            self._after_id = rows[-1][0]
        return [Lesson(device, quantity, deviation) for _, device, quantity, deviation in rows]

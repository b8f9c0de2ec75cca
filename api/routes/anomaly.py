"""Operators on anomaly tickets: confirm one (residents see it from then on) or mark it a false alarm.

A false-alarm mark is recorded with the deviation the ticket's evidence showed; analytics reads the
marks and teaches that series, so the same deviation the next day opens no ticket.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import OperatorDep, SessionsDep, require
from api.routes.operator import ticket_after
from api.schemas import NoteBody, TicketOperator
from api.workflow import confirm_anomaly, mark_false_alarm
from citysense.keys import Principal

router = APIRouter(prefix="/api/v1", tags=["operator"], dependencies=[OperatorDep])

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_Writer = Annotated[Principal, require("tickets:write")]
_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "no such ticket (or not your agency's)"},
    409: {"description": "not an anomaly ticket, or already marked a false alarm"},
}


@router.post("/tickets/{ticket_id}/confirm", responses=_RESPONSES)
def confirm(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """The unusual readings are real: the anomaly ticket becomes public."""
    note = body.note if body else None
    return ticket_after(sessions, ticket_id, lambda: confirm_anomaly(sessions, ticket_id, principal, note=note))


@router.post("/tickets/{ticket_id}/false-alarm", responses=_RESPONSES)
def false_alarm(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """The readings were normal: recorded (analytics learns it for the series) and the ticket resolved."""
    note = body.note if body else None
    return ticket_after(sessions, ticket_id, lambda: mark_false_alarm(sessions, ticket_id, principal, note=note))

"""Operators on anomaly tickets: confirm one (residents see it from then on) or mark it a false alarm.

A false-alarm mark is recorded with the deviation the ticket's evidence showed; analytics reads the
marks and teaches that series, so the same deviation the next day opens no ticket.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.deps import OperatorDep, SessionsDep, require
from api.queries import list_tickets
from api.schemas import NoteBody, TicketOperator
from api.workflow import InvalidTransitionError, TicketNotFoundError, confirm_anomaly, mark_false_alarm
from citysense.keys import Principal

router = APIRouter(prefix="/api/v1", tags=["operator"], dependencies=[OperatorDep])

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_Writer = Annotated[Principal, require("tickets:write")]
_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "no such ticket (or not your agency's)"},
    409: {"description": "not an anomaly ticket, or already marked a false alarm"},
}


def _answer(sessions: SessionsDep, ticket_id: int) -> TicketOperator:
    found, _ = list_tickets(sessions, ids=[ticket_id], limit=1)
    return found[0]


@router.post("/tickets/{ticket_id}/confirm", responses=_RESPONSES)
def confirm(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """The unusual readings are real: the anomaly ticket becomes public."""
    try:
        confirm_anomaly(sessions, ticket_id, principal, note=body.note if body else None)
    except TicketNotFoundError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except InvalidTransitionError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return _answer(sessions, ticket_id)


@router.post("/tickets/{ticket_id}/false-alarm", responses=_RESPONSES)
def false_alarm(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """The readings were normal: recorded (analytics learns it for the series) and the ticket resolved."""
    try:
        mark_false_alarm(sessions, ticket_id, principal, note=body.note if body else None)
    except TicketNotFoundError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except InvalidTransitionError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return _answer(sessions, ticket_id)

"""The public API for residents: no login, aggregated by district, no internal details."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import SessionsDep, StoreDep
from api.queries import city_status, list_tickets
from api.schemas import StatusPublic, TicketPublic, TicketsPublic

router = APIRouter(prefix="/public/v1", tags=["public"])


@router.get("/status")
def status(store: StoreDep, sessions: SessionsDep) -> StatusPublic:
    """The latest air, water and weather in every district, and how many tickets are open there."""
    return city_status(store, sessions)


@router.get("/tickets")
def tickets(
    sessions: SessionsDep,
    status: Annotated[Literal["open", "resolved"] | None, Query(description="only tickets in this state")] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TicketsPublic:
    """Tickets the city opened, newest first, each with its progress timeline."""
    found, total = list_tickets(sessions, status=status, district=district, limit=limit, offset=offset)
    return TicketsPublic(data=[TicketPublic.model_validate(t, from_attributes=True) for t in found], count=total)

"""Maintenance windows in the operator API: list, plan, end (every change audited).

Reading needs `tickets:read`, planning and ending `tickets:write`: a window decides which tickets
analytics opens. A key limited to one agency may plan and end only windows for its own services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import OperatorDep, SessionsDep, require
from api.services import SERVICES, agency_of
from citysense.keys import Principal
from citysense.maintenance import (
    MaintenanceError,
    PlannedWindow,
    WindowNotFoundError,
    end_window,
    get_window,
    list_windows,
    plan_window,
)

__all__ = ["MaintenanceCreate", "MaintenancePublic", "router"]

router = APIRouter(prefix="/api/v1", tags=["maintenance"], dependencies=[OperatorDep])


class MaintenanceCreate(BaseModel):
    """A window to plan: district, device and/or service (none of them: the whole city), from-to."""

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    district: str | None = Field(default=None, min_length=1, max_length=64)
    device_id: str | None = Field(default=None, min_length=1, max_length=64)
    service_code: str | None = Field(default=None, min_length=1, max_length=32)
    reason: str = Field(default="", max_length=2000)


class MaintenancePublic(BaseModel):
    id: int
    district: str | None
    device_id: str | None
    service_code: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    state: Literal["scheduled", "active", "ended"]


class MaintenanceList(BaseModel):
    data: list[MaintenancePublic]
    count: int


def public(window: PlannedWindow, now: datetime | None = None) -> MaintenancePublic:
    state = window.state(now or datetime.now(UTC))
    return MaintenancePublic(
        id=window.id,
        district=window.district,
        device_id=window.device_id,
        service_code=window.service_code,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        reason=window.reason,
        created_by=window.created_by,
        created_at=window.created_at,
        state=state,
    )


def check_agency(principal: Principal, service_code: str | None) -> None:
    """An agency-limited caller may only hold back its own agency's tickets."""
    if principal.agency is None:
        return
    if service_code is None or agency_of(service_code) != principal.agency:
        raise HTTPException(
            403,
            detail=f"this key is limited to the {principal.agency} agency: give a service_code of that agency",
        )


@router.get("/maintenance")
def maintenance_windows(
    sessions: SessionsDep,
    _: Annotated[Principal, require("tickets:read")],
    state: Annotated[Literal["current", "all"], Query(description="current: not yet ended; all: ended too")] = (
        "current"
    ),
) -> MaintenanceList:
    """Maintenance windows, scheduled and active ones (or every one with state=all)."""
    now = datetime.now(UTC)
    found = [public(w, now) for w in list_windows(sessions, include_ended=state == "all", now=now)]
    return MaintenanceList(data=found, count=len(found))


@router.post("/maintenance", status_code=201, responses={403: {"description": "another agency's service"}})
def add_maintenance(
    body: MaintenanceCreate, sessions: SessionsDep, principal: Annotated[Principal, require("tickets:write")]
) -> MaintenancePublic:
    """Plan a window: analytics opens no tickets for what it covers while it runs."""
    if body.service_code is not None and body.service_code not in SERVICES:
        raise HTTPException(422, detail=f"unknown service_code {body.service_code!r}; known: {', '.join(SERVICES)}")
    check_agency(principal, body.service_code)
    try:
        window = plan_window(
            sessions,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            district=body.district,
            device_id=body.device_id,
            service_code=body.service_code,
            reason=body.reason,
            actor=principal.name,
        )
    except MaintenanceError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return public(window)


@router.post(
    "/maintenance/{window_id}/end",
    responses={404: {"description": "no such window"}, 409: {"description": "already ended"}},
)
def end_maintenance(
    window_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    sessions: SessionsDep,
    principal: Annotated[Principal, require("tickets:write")],
) -> MaintenancePublic:
    """End a running window now, or cancel a scheduled one."""
    if principal.agency is not None:
        known = get_window(sessions, window_id)
        if known is not None:
            check_agency(principal, known.service_code)
    try:
        window = end_window(sessions, window_id, actor=principal.name)
    except WindowNotFoundError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except MaintenanceError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return public(window)

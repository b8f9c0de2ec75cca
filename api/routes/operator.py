"""The operator API: devices, readings, anomalies, the ticket queue and its state machine, webhooks.

Every route needs a credential (401 without one) and a scope (403 without it). A key limited to
one agency sees and changes only that agency's tickets; other tickets answer 404.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from sqlalchemy import func, select

from api.deps import OperatorDep, SessionsDep, SettingsDep, StoreDep, require
from api.paging import page_headers
from api.queries import anomalies as find_anomalies
from api.queries import audit_of_agency, devices_with_health, list_tickets
from api.schemas import (
    Anomalies,
    AssignBody,
    AuditLog,
    AuditRecord,
    CommentBody,
    DevicesOperator,
    NoteBody,
    Readings,
    TicketOperator,
    TicketsOperator,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)
from api.timerange import time_range, utc
from api.workflow import InvalidTransitionError, TicketNotFoundError, apply_action
from citysense.db.models import AuditEntry, Webhook
from citysense.keys import AGENCIES, Principal, audit
from citysense.wire import QUANTITIES, is_valid_device_id

router = APIRouter(prefix="/api/v1", tags=["operator"], dependencies=[OperatorDep])

MAX_RANGE = timedelta(days=31)
# Points per /readings response: raw readings per page, and buckets per request.
MAX_POINTS = 10_000
MAX_BUCKETS = 10_100  # a week of minutes, whatever the alignment of start
MAX_DEVICES = 5000  # devices per /devices page (1000 by default)

TicketState = Literal["open", "acknowledged", "assigned", "resolved"]
TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the action is not allowed in the ticket's current state"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such ticket (or not your agency's)"}}


def _agency(principal: Principal, asked: str | None) -> str | None:
    """The agency filter: a limited key always sees its own; an unlimited key may ask for one."""
    if principal.agency is not None:
        if asked is not None and asked != principal.agency:
            raise HTTPException(403, detail=f"this key is limited to the {principal.agency} agency's tickets")
        return principal.agency
    return asked


@router.get("/devices")
def devices(
    request: Request,
    response: Response,
    store: StoreDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    _: Annotated[Principal, require("devices:read")],
    district: Annotated[str | None, Query(max_length=64)] = None,
    health: Annotated[Literal["ok", "silent", "never_seen"] | None, Query()] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_DEVICES, description="devices per page (the rest follow `Link: rel=next`)")
    ] = 1000,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="devices before this page")] = 0,
) -> DevicesOperator:
    """Registered devices in id order with the time of their last reading and whether they still report.

    Paged: `count` and `X-Total-Count` are how many devices match the filters; while more follow,
    `Link: <...>; rel="next"` is the next page's address.
    """
    found, total = devices_with_health(
        store,
        sessions,
        silent_after_s=settings.device_silent_after_s,
        district=district,
        health=health,
        limit=limit,
        offset=offset,
    )
    response.headers.update(page_headers(request, total=total, offset=offset, limit=limit))
    return DevicesOperator(data=found, count=total)


@router.get("/anomalies")
def anomalies(
    request: Request,
    response: Response,
    sessions: SessionsDep,
    principal: Annotated[Principal, require("anomalies:read")],
    district: Annotated[str | None, Query(max_length=64)] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; only anomalies at or after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Anomalies:
    """Readings analytics found out of bounds (the evidence of its tickets), newest first.

    Paged: `count` and `X-Total-Count` are how many match the filters; while more follow,
    `Link: <...>; rel="next"` is the next page's address.
    """
    found, total = find_anomalies(
        sessions,
        agency=principal.agency,
        district=district,
        device_id=device_id,
        since=utc(since) if since is not None else None,
        limit=limit,
        offset=offset,
    )
    response.headers.update(page_headers(request, total=total, offset=offset, limit=limit))
    return Anomalies(data=found, count=total)


@router.get("/tickets")
def tickets(
    request: Request,
    response: Response,
    sessions: SessionsDep,
    principal: Annotated[Principal, require("tickets:read")],
    status: Annotated[TicketState | None, Query()] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    service_code: Annotated[str | None, Query(max_length=32)] = None,
    agency: Annotated[str | None, Query(max_length=32, description=f"one of {', '.join(AGENCIES)}")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> TicketsOperator:
    """The ticket queue, newest first, filtered; an agency-limited key sees only its agency's tickets.

    Paged: `count` and `X-Total-Count` are how many match the filters; while more follow,
    `Link: <...>; rel="next"` is the next page's address.
    """
    if agency is not None and agency not in AGENCIES:
        raise HTTPException(422, detail=f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}")
    found, total = list_tickets(
        sessions,
        status=status,
        district=district,
        service_code=service_code,
        agency=_agency(principal, agency),
        limit=limit,
        offset=offset,
    )
    response.headers.update(page_headers(request, total=total, offset=offset, limit=limit))
    return TicketsOperator(data=found, count=total)


@router.get("/tickets/{ticket_id}", responses=_NOT_FOUND)
def ticket(
    ticket_id: TicketId, sessions: SessionsDep, principal: Annotated[Principal, require("tickets:read")]
) -> TicketOperator:
    found, _ = list_tickets(sessions, ids=[ticket_id], agency=principal.agency, limit=1)
    if not found:
        raise HTTPException(404, detail=f"no ticket {ticket_id}")
    return found[0]


@router.get("/tickets/{ticket_id}/audit", responses=_NOT_FOUND)
def ticket_audit(
    ticket_id: TicketId, sessions: SessionsDep, principal: Annotated[Principal, require("tickets:read")]
) -> AuditLog:
    """Who changed this ticket, how and when."""
    ticket(ticket_id, sessions, principal)  # 404 unless visible to this key
    with sessions() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == "ticket", AuditEntry.target_id == str(ticket_id))
            .order_by(AuditEntry.id)
        ).all()
        data = [AuditRecord.model_validate(r, from_attributes=True) for r in rows]
    return AuditLog(data=data, count=len(data))


def ticket_after(sessions: SessionsDep, ticket_id: int, step: Callable[[], object]) -> TicketOperator:
    """Run one workflow step on a ticket and answer with the ticket as it now is; the workflow's
    errors become 404 (no such ticket, or not this key's agency) and 409 (not allowed from its state)."""
    try:
        step()
    except TicketNotFoundError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except InvalidTransitionError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    found, _ = list_tickets(sessions, ids=[ticket_id], limit=1)
    return found[0]


def _act(sessions: SessionsDep, ticket_id: int, action: str, principal: Principal, **params: object) -> TicketOperator:
    return ticket_after(sessions, ticket_id, lambda: apply_action(sessions, ticket_id, action, principal, **params))


_Writer = Annotated[Principal, require("tickets:write")]


@router.post("/tickets/{ticket_id}/acknowledge", responses=_NOT_FOUND | _CONFLICT)
def acknowledge(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """open -> acknowledged: the agency has seen the ticket."""
    return _act(sessions, ticket_id, "acknowledge", principal, note=body.note if body else None)


@router.post("/tickets/{ticket_id}/assign", responses=_NOT_FOUND | _CONFLICT)
def assign(ticket_id: TicketId, body: AssignBody, sessions: SessionsDep, principal: _Writer) -> TicketOperator:
    """open/acknowledged/assigned -> assigned: a crew takes it, with an expected completion time for residents."""
    expected = utc(body.expected_completion_at) if body.expected_completion_at else None
    return _act(
        sessions,
        ticket_id,
        "assign",
        principal,
        assignee=body.assignee,
        expected_completion_at=expected,
        note=body.note,
    )


@router.post("/tickets/{ticket_id}/comment", responses=_NOT_FOUND | _CONFLICT)
def comment(ticket_id: TicketId, body: CommentBody, sessions: SessionsDep, principal: _Writer) -> TicketOperator:
    """A note on the ticket in any state; internal unless `public` is true."""
    return _act(sessions, ticket_id, "comment", principal, message=body.message, public=body.public)


@router.post("/tickets/{ticket_id}/resolve", responses=_NOT_FOUND | _CONFLICT)
def resolve(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """open/acknowledged/assigned -> resolved."""
    return _act(sessions, ticket_id, "resolve", principal, note=body.note if body else None)


@router.post("/tickets/{ticket_id}/reopen", responses=_NOT_FOUND | _CONFLICT)
def reopen(
    ticket_id: TicketId, sessions: SessionsDep, principal: _Writer, body: NoteBody | None = None
) -> TicketOperator:
    """resolved -> open (409 when a newer ticket for the same incident is already open)."""
    return _act(sessions, ticket_id, "reopen", principal, note=body.note if body else None)


@router.get("/readings", response_model=Readings)
def readings(
    request: Request,
    store: StoreDep,
    _: Annotated[Principal, require("readings:read")],
    device_id: Annotated[str, Query(min_length=1, max_length=64, description="the device's id")],
    quantity: Annotated[str, Query(description="a wire quantity, e.g. pm25 or water_level")],
    start: Annotated[datetime | None, Query(description="ISO 8601; default: one hour before end")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; default: now")] = None,
    bucket: Annotated[int | None, Query(ge=1, le=86_400, description="bucket width in seconds")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_POINTS, description="raw readings per page (the rest follow `Link: rel=next`)")
    ] = MAX_POINTS,
) -> Response:
    """One device's readings of one quantity in [start, end), raw or averaged per bucket.

    Raw readings come in pages of `limit`, the next page linked by `Link: rel="next"` (and `next`
    in the body). A bucketed request may span at most 10 100 buckets (a week of minutes); more is a 422 that says so.
    """
    if not is_valid_device_id(device_id):
        raise HTTPException(422, detail=f"invalid device_id {device_id!r}")
    if quantity not in QUANTITIES:
        known = ", ".join(sorted(QUANTITIES))
        raise HTTPException(422, detail=f"unknown quantity {quantity!r}; known: {known}")
    start_at, end_at = time_range(start, end, default_span=timedelta(hours=1), max_span=MAX_RANGE)
    start_ms, end_ms = int(start_at.timestamp() * 1000), int(end_at.timestamp() * 1000)
    if bucket is not None:
        buckets = -(-(end_ms - start_ms // (bucket * 1000) * bucket * 1000) // (bucket * 1000))
        if buckets > MAX_BUCKETS:
            raise HTTPException(
                422,
                detail=f"{buckets} buckets of {bucket} s in range (max {MAX_BUCKETS} per request);"
                " ask for a wider bucket or a shorter range",
            )
    # The store stops after one row more than the page: enough to know there is a next page.
    frame = store.read_range(
        device_id=device_id,
        quantity=quantity,
        start_ms=start_ms,
        end_ms=end_ms,
        bucket_s=bucket,
        limit=limit + 1 if bucket is None else None,
    )
    next_start: str | None = None
    headers: dict[str, str] = {}
    if bucket is None and len(frame) > limit:
        next_start = frame.index[limit].isoformat().replace("+00:00", "Z")
        frame = frame.iloc[:limit]
        next_url = request.url.include_query_params(start=next_start, end=end_at.isoformat())
        headers["Link"] = f'<{next_url}>; rel="next"'
    # Serialised straight from the frame's columns: a day of minutes is 1440 points, and building a
    # model per point would cost more than reading them from the store.
    columns = {name: frame[name].tolist() if name in frame else None for name in _POINT_FIELDS}
    times = [t.isoformat().replace("+00:00", "Z") for t in frame.index.to_pydatetime()]
    points = [
        {name: (values[i] if values is not None else None) for name, values in columns.items()} | {"time": when}
        for i, when in enumerate(times)
    ]
    body = {
        "device_id": device_id,
        "quantity": quantity,
        "unit": QUANTITIES[quantity].unit,
        "bucket_s": bucket,
        "kind": "raw" if bucket is None else "bucketed",
        "data": points,
        "next": next_start,
    }
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


_POINT_FIELDS = ("value", "mean", "min", "max", "count")


@router.get("/audit")
def audit_log(
    request: Request,
    response: Response,
    sessions: SessionsDep,
    principal: Annotated[Principal, require("audit:read")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditLog:
    """Every change made through the API or the key commands, newest first.

    A key limited to an agency sees only the changes to that agency's tickets, webhooks and keys:
    other agencies' comments, key names and webhook URLs stay theirs. Paged: `count` and
    `X-Total-Count` are how many entries this key may see; while more follow, `Link: <...>; rel="next"`
    is the next page's address.
    """
    query = select(AuditEntry)
    if principal.agency is not None:
        query = query.where(audit_of_agency(principal.agency))
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)).all()
        data = [AuditRecord.model_validate(r, from_attributes=True) for r in rows]
    response.headers.update(page_headers(request, total=total, offset=offset, limit=limit))
    return AuditLog(data=data, count=total)


@router.post("/webhooks", status_code=201)
def create_webhook(
    body: WebhookCreate,
    sessions: SessionsDep,
    settings: SettingsDep,
    principal: Annotated[Principal, require("webhooks:manage")],
) -> WebhookCreated:
    """Subscribe a URL to ticket events (of the key's agency, if limited); the signing secret is shown once.

    A URL whose host resolves to a loopback, private or link-local address is refused (422), unless
    it lies in a network the operator allows (`webhook_allowed_networks`); it is checked again before
    every delivery and on every redirect.
    """
    from api.webhook_targets import UnsafeTargetError, networks, resolve_target_sync
    from api.webhooks import newest_event_id

    try:
        resolve_target_sync(str(body.url), allowed=networks(settings.webhook_allowed_networks))
    except UnsafeTargetError as exc:
        raise HTTPException(422, detail=f"webhook URL refused: {exc}") from None

    secret = secrets.token_urlsafe(32)
    start_after = newest_event_id(sessions)  # only events from now on
    with sessions.begin() as session:
        hook = Webhook(
            url=str(body.url),
            secret=secret,
            events=list(body.events),
            agency=principal.agency,
            created_by=principal.name,
            last_event_id=start_after,
        )
        session.add(hook)
        session.flush()
        audit(session, principal.name, "webhook.create", "webhook", str(hook.id), {"url": hook.url})
        created = WebhookCreated(
            id=hook.id,
            url=hook.url,
            events=hook.events,
            agency=hook.agency,
            active=hook.active,
            created_at=hook.created_at,
            secret=secret,
        )
    return created


@router.get("/webhooks")
def list_webhooks(
    sessions: SessionsDep, principal: Annotated[Principal, require("webhooks:manage")]
) -> list[WebhookPublic]:
    query = select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)
    if principal.agency is not None:
        query = query.where(Webhook.agency == principal.agency)
    with sessions() as session:
        return [WebhookPublic.model_validate(h, from_attributes=True) for h in session.scalars(query)]


@router.delete("/webhooks/{webhook_id}", status_code=204, responses={404: {"description": "no such webhook"}})
def delete_webhook(
    webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    sessions: SessionsDep,
    principal: Annotated[Principal, require("webhooks:manage")],
) -> None:
    """Stop sending events to a subscriber."""
    with sessions.begin() as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None or not hook.active or (principal.agency is not None and hook.agency != principal.agency):
            raise HTTPException(404, detail=f"no webhook {webhook_id}")
        hook.active = False
        audit(session, principal.name, "webhook.delete", "webhook", str(webhook_id), {"url": hook.url})

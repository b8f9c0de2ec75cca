"""The operators' console at /console: the ticket queue, a ticket's evidence and actions, maintenance
windows, devices, and for admins API keys and webhooks.

Server-rendered HTML that works without JavaScript; /console/assets/console.js only adds live
updates of the queue. Sign-in is an operator account or an API key; the scopes behind either
decide what each page shows and which forms it offers, and each handler checks them again. Every
change goes through the same functions as the operator API (api.workflow, citysense.maintenance,
citysense.keys), so it is audited the same way.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.console_auth import (
    COOKIE,
    ClientThrottle,
    ConsoleLogin,
    end_session,
    resolve_session,
    sign_in_with_key,
    sign_in_with_password,
)
from api.console_queue import FACETS, SORTS, UNRESOLVED, QueueFilters, known_values, queue_page
from api.deps import CityDep, SessionsDep, SettingsDep, StoreDep
from api.evidence_chart import evidence_chart, readings_window
from api.queries import devices_with_health
from api.routes import maintenance as maintenance_api
from api.routes import operator as operator_api
from api.schemas import WebhookCreate
from api.services import SERVICES, agency_of
from api.workflow import (
    ACTIONS,
    ANOMALY,
    InvalidTransitionError,
    TicketNotFoundError,
    apply_action,
    confirm_anomaly,
    mark_false_alarm,
)
from citysense.db.models import ApiKey, Device, Ticket, TicketStatus, Webhook
from citysense.keys import AGENCIES, SCOPES, ApiKeyError, create_key, revoke_key
from citysense.maintenance import MaintenanceError, end_window, list_windows, plan_window
from citysense.users import LoginRefusedError

__all__ = ["router"]

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

_HERE = FilePath(__file__).resolve().parent.parent
_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
)
_ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
PAGE_SIZE = 100


def _throttle(request: Request) -> ClientThrottle:
    """One per app (so per process), made on first use."""
    state = request.app.state
    if not hasattr(state, "console_throttle"):
        state.console_throttle = ClientThrottle()
    throttle: ClientThrottle = state.console_throttle
    return throttle


def _login(request: Request, sessions: SessionsDep) -> ConsoleLogin:
    request.state.console_started = time.perf_counter()  # for the queue's Server-Timing header
    login = resolve_session(sessions, request.cookies.get(COOKIE))
    if login is None:
        raise HTTPException(303, headers={"Location": "/console/login?" + urlencode({"next": _next(request)})})
    return login


def _next(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return path if path.startswith("/console") else "/console"


LoginDep = Annotated[ConsoleLogin, Depends(_login)]


def _allow(login: ConsoleLogin, scope: str) -> None:
    if not login.principal.allows(scope):
        raise HTTPException(403, detail=f"your account lacks the '{scope}' permission")


def _is_admin(login: ConsoleLogin) -> bool:
    return login.principal.scopes >= set(SCOPES)


def _checked(request: Request, login: ConsoleLogin, csrf: str | None) -> None:
    """A change must come from our own pages: same origin (when the browser says) and the session's token."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, detail="cross-site request refused")
    if not login.csrf_ok(csrf):
        raise HTTPException(403, detail="the form has expired: reload the page and try again")


def _page(
    name: str, request: Request, login: ConsoleLogin | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    html = _templates.get_template(f"console/{name}").render(
        login=login,
        is_admin=login is not None and _is_admin(login),
        path=request.url.path,
        notice=request.query_params.get("notice"),
        **context,
    )
    # The Content-Security-Policy and frame headers come from api.secheaders, as on every page.
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _back(location: str, notice: str | None = None) -> RedirectResponse:
    if notice:
        location += ("&" if "?" in location else "?") + urlencode({"notice": notice})
    return RedirectResponse(location, status_code=303)


# ---------------------------------------------------------------------------------------- assets


@router.get("/assets/{name}")
def asset(name: str) -> FileResponse:
    if name not in _ASSETS:
        raise HTTPException(404, detail="no such file")
    return FileResponse(_HERE / "static" / "console" / name, media_type=_ASSETS[name])


# --------------------------------------------------------------------------------------- sign-in


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str, Query(max_length=500)] = "/console") -> HTMLResponse:
    return _page("login.html", request, None, next=next if next.startswith("/console") else "/console", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    api_key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/console",
) -> Response:
    """Sign in with a name and password, or with an API key; throttled per address and per account."""
    target = next if next.startswith("/console") and not next.startswith("/console/login") else "/console"
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, detail="cross-site request refused")
    client = request.client.host if request.client else "unknown"
    wait = _throttle(request).retry_after(client)
    if wait:
        return _page(
            "login.html", request, None, 429, next=target, error=f"Too many failed sign-ins: try again in {wait} s."
        )
    try:
        if api_key:
            token = sign_in_with_key(sessions, api_key.strip())
        else:
            token = sign_in_with_password(sessions, username, password)
    except LoginRefusedError as exc:
        _throttle(request).failed(client)
        return _page("login.html", request, None, 429 if exc.retry_after_s else 401, next=target, error=str(exc))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=12 * 3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=settings.console_secure_cookie,
    )
    return response


@router.post("/logout")
def logout(
    request: Request, sessions: SessionsDep, login: LoginDep, csrf: Annotated[str | None, Form()] = None
) -> Response:
    _checked(request, login, csrf)
    end_session(sessions, request.cookies.get(COOKIE, ""), actor=login.principal.name)
    response = _back("/console/login", "signed out")
    response.delete_cookie(COOKIE, path="/console")
    return response


# ----------------------------------------------------------------------------------------- queue


def _visible_agency(login: ConsoleLogin, asked: str | None) -> str | None:
    return login.principal.agency if login.principal.agency is not None else asked


@router.get("", response_class=HTMLResponse)
def queue(
    request: Request,
    sessions: SessionsDep,
    city: CityDep,
    login: LoginDep,
    status: Annotated[str | None, Query(max_length=16)] = UNRESOLVED,
    district: Annotated[str | None, Query(max_length=64)] = None,
    service_code: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    source: Annotated[str | None, Query(max_length=16)] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    sort: Annotated[Literal["newest", "oldest", "updated", "severity"], Query()] = "newest",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    fragment: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """The ticket queue: filters with counts, a sortable page of tickets, and a map of where they are."""
    _allow(login, "tickets:read")
    choices = known_values()
    if status not in (*choices["status"], "", None):
        raise HTTPException(422, detail=f"unknown status {status!r}; known: {', '.join(choices['status'])}")
    if agency and agency not in AGENCIES:
        raise HTTPException(422, detail=f"unknown agency {agency!r}; known: {', '.join(AGENCIES)}")
    filters = QueueFilters(
        status=status or None,
        district=district or None,
        service_code=service_code or None,
        severity=severity or None,
        source=source or None,
        agency=agency or None,
    )
    found = queue_page(
        sessions,
        filters,
        visible_agency=login.principal.agency,
        sort=sort,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    chosen = {name: getattr(filters, name) for name in FACETS}
    query = {k: v for k, v in chosen.items() if v} | {"sort": sort}
    if status is None or status == "":
        query["status"] = ""
    width, height, paths = city.svg_paths()
    names = {d.slug: d.name for d in city.districts}
    per_district = found.counts.get("district", {})
    shapes = [
        {"slug": slug, "name": names[slug], "path": path, "label": label, "count": per_district.get(slug, 0)}
        for slug, (path, label) in paths.items()
    ]
    districts = sorted(set(names) | set(per_district))
    context: dict[str, Any] = {
        "page": found,
        "filters": chosen,
        "choices": choices | {"district": tuple(districts)},
        "sort": sort,
        "sorts": tuple(SORTS),
        "query": query,
        "urlencode": urlencode,
        "page_no": page,
        "pages": max(1, -(-found.total // PAGE_SIZE)),
        "shapes": shapes,
        "map_size": (width, height),
        "names": names,
        "services": SERVICES,
        "agencies": AGENCIES,
        "facets": FACETS,
    }
    queried = time.perf_counter()
    response = _page("_queue.html" if fragment else "queue.html", request, login, **context)
    started: float = request.state.console_started
    done = time.perf_counter()
    # What the page cost on the server (sign-in check and queries, then HTML), for browsers' dev tools and the bench.
    response.headers["Server-Timing"] = (
        f"db;dur={(queried - started) * 1000:.1f}, render;dur={(done - queried) * 1000:.1f}, "
        f"total;dur={(done - started) * 1000:.1f}"
    )
    return response


# ---------------------------------------------------------------------------------------- ticket


def _ticket_or_404(sessions: SessionsDep, ticket_id: int, login: ConsoleLogin) -> Ticket:
    with sessions() as session:
        ticket = session.scalars(
            select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.events))
        ).one_or_none()
    agency = login.principal.agency
    if ticket is None or (agency is not None and agency_of(ticket.service_code) != agency):
        raise HTTPException(404, detail=f"no ticket {ticket_id}")
    return ticket


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(
    ticket_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    sessions: SessionsDep,
    store: StoreDep,
    settings: SettingsDep,
    login: LoginDep,
) -> HTMLResponse:
    """A ticket: its timeline (internal notes marked), evidence chart, detector scores and the actions allowed now."""
    _allow(login, "tickets:read")
    ticket = _ticket_or_404(sessions, ticket_id, login)
    evidence: dict[str, Any] = {}
    detector: dict[str, Any] = {}
    for event in reversed(ticket.events):
        data = event.data or {}
        if data.get("evidence"):
            evidence, detector = dict(data["evidence"]), data
            break
    chart = None
    if ticket.quantity and ticket.devices:
        start = ticket.opened_at - timedelta(hours=1)
        end = (ticket.resolved_at or datetime.now(UTC)) + timedelta(minutes=10)
        series = readings_window(store, list(ticket.devices), ticket.quantity, start, end)
        chart = evidence_chart(
            series, threshold=ticket.threshold or None, evidence=evidence, opened_at=ticket.opened_at
        )
    allowed = [name for name, (states, _) in ACTIONS.items() if ticket.status in states]
    if ticket.service_code == ANOMALY and not any(e.kind == "false_alarm" for e in ticket.events):
        allowed += ["false-alarm"] + ([] if ticket.public else ["confirm"])
    return _page(
        "ticket.html",
        request,
        login,
        ticket=ticket,
        agency=agency_of(ticket.service_code),
        evidence=evidence,
        detector=detector,
        chart=chart,
        allowed=allowed if login.principal.allows("tickets:write") else [],
        agencies=AGENCIES,
        grafana_url=settings.grafana_url.rstrip("/"),
    )


# The anomaly engineer's workflow steps (api.workflow), offered on anomaly tickets only.
_ANOMALY_ACTIONS = {"false-alarm": mark_false_alarm, "confirm": confirm_anomaly}


@router.post("/tickets/{ticket_id}/{action}")
def ticket_action(
    ticket_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    action: str,
    request: Request,
    sessions: SessionsDep,
    login: LoginDep,
    csrf: Annotated[str | None, Form()] = None,
    note: Annotated[str, Form(max_length=2000)] = "",
    message: Annotated[str, Form(max_length=2000)] = "",
    visibility: Annotated[Literal["internal", "public"], Form()] = "internal",
    assignee: Annotated[str, Form(max_length=120)] = "",
    expected_completion_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """One ticket action from the ticket page's forms, through api.workflow like the operator API."""
    _checked(request, login, csrf)
    _allow(login, "tickets:write")
    if action not in ACTIONS and action not in _ANOMALY_ACTIONS:
        raise HTTPException(404, detail=f"no action {action!r}")
    params: dict[str, Any] = {"note": note.strip() or None}
    if action == "comment":
        if not message.strip():
            return _back(f"/console/tickets/{ticket_id}", "a comment needs a message")
        params = {"message": message.strip(), "public": visibility == "public"}
    if action == "assign":
        if assignee not in AGENCIES and not assignee.strip():
            return _back(f"/console/tickets/{ticket_id}", "choose who to assign it to")
        params["assignee"] = assignee.strip()
        if expected_completion_at:
            try:
                moment = datetime.fromisoformat(expected_completion_at)
            except ValueError:
                return _back(f"/console/tickets/{ticket_id}", "expected completion is not a date and time")
            params["expected_completion_at"] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        if action in _ANOMALY_ACTIONS:
            _ANOMALY_ACTIONS[action](sessions, ticket_id, login.principal, note=params["note"])
        else:
            apply_action(sessions, ticket_id, action, login.principal, **params)
    except TicketNotFoundError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except InvalidTransitionError as exc:
        return _back(f"/console/tickets/{ticket_id}", str(exc))
    done = {"acknowledge": "acknowledged", "assign": "assigned", "comment": "comment added",
            "resolve": "resolved", "reopen": "reopened", "false-alarm": "marked a false alarm",
            "confirm": "confirmed"}  # fmt: skip
    return _back(f"/console/tickets/{ticket_id}", f"ticket {ticket_id} {done[action]}")


# ----------------------------------------------------------------------------------- maintenance


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance_page(
    request: Request, sessions: SessionsDep, login: LoginDep, show: Literal["current", "all"] = "current"
) -> HTMLResponse:
    _allow(login, "tickets:read")
    now = datetime.now(UTC)
    windows = [maintenance_api.public(w, now) for w in list_windows(sessions, include_ended=show == "all", now=now)]
    return _page(
        "maintenance.html",
        request,
        login,
        windows=windows,
        show=show,
        services=SERVICES,
        can_write=login.principal.allows("tickets:write"),
    )


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.post("/maintenance")
def maintenance_add(
    request: Request,
    sessions: SessionsDep,
    login: LoginDep,
    starts_at: Annotated[str, Form(max_length=40)],
    ends_at: Annotated[str, Form(max_length=40)],
    csrf: Annotated[str | None, Form()] = None,
    district: Annotated[str, Form(max_length=64)] = "",
    device_id: Annotated[str, Form(max_length=64)] = "",
    service_code: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _checked(request, login, csrf)
    _allow(login, "tickets:write")
    if service_code and service_code not in SERVICES:
        return _back("/console/maintenance", f"unknown service {service_code!r}")
    maintenance_api.check_agency(login.principal, service_code or None)
    try:
        window = plan_window(
            sessions,
            starts_at=_moment(starts_at),
            ends_at=_moment(ends_at),
            district=district.strip() or None,
            device_id=device_id.strip() or None,
            service_code=service_code or None,
            reason=reason.strip(),
            actor=login.principal.name,
        )
    except ValueError as exc:  # MaintenanceError, or a date the browser let through
        return _back("/console/maintenance", str(exc))
    return _back("/console/maintenance", f"maintenance window {window.id} planned")


@router.post("/maintenance/{window_id}/end")
def maintenance_end(
    window_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    sessions: SessionsDep,
    login: LoginDep,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _checked(request, login, csrf)
    _allow(login, "tickets:write")
    if login.principal.agency is not None:
        known = {w.id: w for w in list_windows(sessions, include_ended=True)}
        maintenance_api.check_agency(login.principal, known[window_id].service_code if window_id in known else None)
    try:
        end_window(sessions, window_id, actor=login.principal.name)
    except MaintenanceError as exc:
        return _back("/console/maintenance", str(exc))
    return _back("/console/maintenance", f"maintenance window {window_id} ended")


# --------------------------------------------------------------------------------------- devices


@router.get("/devices", response_class=HTMLResponse)
def devices_page(
    request: Request,
    sessions: SessionsDep,
    store: StoreDep,
    settings: SettingsDep,
    login: LoginDep,
    health: Annotated[Literal["ok", "silent", "faulty", "never_seen"] | None, Query()] = None,
) -> HTMLResponse:
    """Devices with health, last seen and their open tickets; faulty means an open sensor-fault ticket names it."""
    _allow(login, "devices:read")
    found, _ = devices_with_health(store, sessions, silent_after_s=settings.device_silent_after_s)
    with sessions() as session:
        reported = {
            row.id: row
            for row in session.execute(
                select(Device.id, Device.agent_version, Device.status_state, Device.queue_depth, Device.battery_pct)
            )
        }
        open_tickets = session.execute(
            select(Ticket.id, Ticket.devices, Ticket.service_code).where(Ticket.status != TicketStatus.RESOLVED.value)
        ).all()
    tickets_of: dict[str, list[int]] = {}
    faulty: set[str] = set()
    for ticket_id, named, service_code in open_tickets:
        for device_id in named or []:
            tickets_of.setdefault(device_id, []).append(ticket_id)
            if service_code == "device_fault":
                faulty.add(device_id)
    rows = []
    for device in found:
        state = "faulty" if device.id in faulty else device.health
        if health is None or health == state:
            rows.append(
                {
                    "device": device,
                    "health": state,
                    "tickets": sorted(tickets_of.get(device.id, [])),
                    "status": reported.get(device.id),
                }
            )
    return _page(
        "devices.html",
        request,
        login,
        rows=rows,
        health=health,
        grafana_url=settings.grafana_url.rstrip("/"),
    )


# ----------------------------------------------------------------------------------------- admin


def _admin(login: ConsoleLogin) -> None:
    if not _is_admin(login):
        raise HTTPException(403, detail="only admins manage API keys and webhooks")


def _admin_context(sessions: SessionsDep) -> dict[str, Any]:
    with sessions() as session:
        keys = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        hooks = session.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)).all()
    return {"keys": keys, "hooks": hooks, "scopes": SCOPES, "agencies": AGENCIES}


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, sessions: SessionsDep, login: LoginDep) -> HTMLResponse:
    _admin(login)
    return _page("admin.html", request, login, **_admin_context(sessions), created_key=None, created_hook=None)


@router.post("/admin/keys", response_class=HTMLResponse)
def admin_key_create(
    request: Request,
    sessions: SessionsDep,
    login: LoginDep,
    name: Annotated[str, Form(min_length=1, max_length=120)],
    scope: Annotated[list[str], Form()],
    csrf: Annotated[str | None, Form()] = None,
    agency: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A new key, shown once in this response (never in a URL, so not in history or logs)."""
    _checked(request, login, csrf)
    _admin(login)
    try:
        created = create_key(sessions, name=name, scopes=scope, agency=agency or None, actor=login.principal.name)
    except ApiKeyError as exc:
        return _back("/console/admin", str(exc))
    return _page("admin.html", request, login, **_admin_context(sessions), created_key=created, created_hook=None)


@router.post("/admin/keys/{key_id}/revoke")
def admin_key_revoke(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    sessions: SessionsDep,
    login: LoginDep,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _checked(request, login, csrf)
    _admin(login)
    if not revoke_key(sessions, key_id, actor=login.principal.name):
        return _back("/console/admin", f"no active key {key_id}")
    return _back("/console/admin", f"key {key_id} revoked")


@router.post("/admin/webhooks", response_class=HTMLResponse)
def admin_webhook_create(
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    login: LoginDep,
    url: Annotated[str, Form(max_length=500)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _checked(request, login, csrf)
    _admin(login)
    try:
        body = WebhookCreate.model_validate({"url": url})
    except ValidationError as exc:
        return _back("/console/admin", "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()))
    try:
        created = operator_api.create_webhook(body, sessions, settings, login.principal)
    except HTTPException as exc:
        return _back("/console/admin", str(exc.detail))
    return _page("admin.html", request, login, **_admin_context(sessions), created_key=None, created_hook=created)


@router.post("/admin/webhooks/{webhook_id}/delete")
def admin_webhook_delete(
    webhook_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    sessions: SessionsDep,
    login: LoginDep,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _checked(request, login, csrf)
    _admin(login)
    try:
        operator_api.delete_webhook(webhook_id, sessions, login.principal)
    except HTTPException as exc:
        return _back("/console/admin", str(exc.detail))
    return _back("/console/admin", f"webhook {webhook_id} removed")

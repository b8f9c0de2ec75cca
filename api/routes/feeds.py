"""Feeds residents and alert aggregators subscribe to: tickets as Atom, public warnings as Atom + CAP 1.2.

Feed readers poll; every body goes through the public cache (ETag, 304), and ticket events drop it,
so a poll right after a change sees the change.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from api.alerts import cap_document, cap_time, warnings
from api.caching import PublicCache
from api.deps import CityDep, SessionsDep, SettingsDep
from api.queries import list_tickets
from api.services import SERVICES, agency_of

router = APIRouter(prefix="/public/v1", tags=["feeds"])

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM = "application/atom+xml; charset=utf-8"
CAP = "application/cap+xml; charset=utf-8"
FEED_SIZE = 50


def _cache(request: Request) -> PublicCache:
    cache: PublicCache = request.app.state.public_cache
    return cache


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _feed(title: str, feed_id: str, self_url: str, alternate: str, updated: datetime) -> ET.Element:
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _el(feed, "title", title)
    _el(feed, "id", feed_id)
    _el(feed, "updated", _atom_time(updated))
    _el(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _el(feed, "link", rel="alternate", href=alternate, type="text/html")
    author = _el(feed, "author")
    _el(author, "name", "citysense")
    return feed


def _atom_time(when: datetime) -> str:
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bytes(feed: ET.Element) -> bytes:
    ET.register_namespace("", ATOM_NS)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


@router.get("/tickets.atom", responses={200: {"content": {"application/atom+xml": {}}}, 400: {}})
async def tickets_atom(
    request: Request,
    sessions: SessionsDep,
    district: Annotated[str | None, Query(max_length=64, description="only this district's tickets")] = None,
    service_code: Annotated[str | None, Query(max_length=64, description="only this service, e.g. flood")] = None,
) -> Response:
    """The newest tickets (opened, progressing, resolved) as an Atom feed; each entry links its page."""
    if service_code is not None and service_code not in SERVICES:
        raise HTTPException(400, detail=f"unknown service_code {service_code!r}; known: {', '.join(SERVICES)}")
    base = _base(request)

    def render() -> bytes:
        found, _ = list_tickets(
            sessions, district=district, service_code=service_code, public_only=True, limit=FEED_SIZE
        )
        newest = max((t.updated_at for t in found), default=datetime(2026, 1, 1, tzinfo=UTC))
        feed = _feed(
            "citysense: tickets"
            + (f" in {district}" if district else "")
            + (f" ({service_code})" if service_code else ""),
            f"{base}/public/v1/tickets.atom" + (f"?{request.url.query}" if request.url.query else ""),
            str(request.url),
            f"{base}/",
            newest,
        )
        for t in found:
            entry = _el(feed, "entry")
            _el(entry, "title", f"#{t.id} {t.title} ({t.status})")
            _el(entry, "id", f"{base}/tickets/{t.id}")
            _el(entry, "updated", _atom_time(t.updated_at))
            _el(entry, "published", _atom_time(t.opened_at))
            _el(entry, "link", rel="alternate", href=f"{base}/tickets/{t.id}", type="text/html")
            _el(entry, "category", term=t.service_code)
            steps = "\n".join(f"{_atom_time(s.at)} {s.kind}: {s.message}" for s in t.timeline)
            _el(entry, "summary", f"{t.status}; {agency_of(t.service_code)} agency; {t.district}.\n{steps}")
        return _bytes(feed)

    return await _cache(request).respond(request, ("tickets.atom", district, service_code, base), render, ATOM)


@router.get("/alerts.atom", responses={200: {"content": {"application/atom+xml": {}}}})
async def alerts_atom(request: Request, sessions: SessionsDep, city: CityDep) -> Response:
    """Active public warnings (flood stages, unhealthy air), and those ended in the last day; each links its CAP."""
    base = _base(request)

    def render() -> bytes:
        now = datetime.now(UTC)
        found = warnings(sessions, now=now)
        names = {d.slug: d.name for d in city.districts}
        newest = max((w.sent() for w in found), default=datetime(2026, 1, 1, tzinfo=UTC))
        feed = _feed(
            "citysense: public warnings", f"{base}/public/v1/alerts.atom", str(request.url), f"{base}/", newest
        )
        for w in found:
            entry = _el(feed, "entry")
            stage = w.stages[-1].severity
            state = "ended" if not w.active else stage
            _el(entry, "title", f"{w.service_code.replace('_', ' ')} in {names.get(w.district, w.district)}: {state}")
            _el(entry, "id", f"urn:citysense:alert:{w.identifier()}")
            _el(entry, "updated", _atom_time(w.sent()))
            cap_url = f"{base}/public/v1/alerts/{w.ticket_id}.cap"
            _el(entry, "link", rel="alternate", href=cap_url, type="application/cap+xml")
            _el(entry, "link", rel="related", href=f"{base}/tickets/{w.ticket_id}", type="text/html")
            _el(entry, "category", term=w.msg_type)
            _el(entry, "summary", f"CAP {w.msg_type} {w.identifier()} sent {cap_time(w.sent())}")
        return _bytes(feed)

    return await _cache(request).respond(request, ("alerts.atom", base), render, ATOM)


@router.get("/alerts/{alert_id}.cap", responses={200: {"content": {"application/cap+xml": {}}}, 404: {}})
async def alert_cap(
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    sessions: SessionsDep,
    city: CityDep,
    settings: SettingsDep,
) -> Response:
    """One warning's newest CAP 1.2 message: Alert, Update (stage changed) or Cancel (ended)."""
    base = _base(request)

    def render() -> bytes:
        found = warnings(sessions, now=datetime.now(UTC), ticket_id=alert_id)
        return cap_document(found[0], city, base_url=base, sender=settings.cap_sender) if found else b""

    response = await _cache(request).respond(request, ("alert.cap", alert_id, base), render, CAP)
    if response.status_code == 200 and not response.body:
        raise HTTPException(404, detail=f"no public warning {alert_id}")
    return response

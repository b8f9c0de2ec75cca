"""The residents' status page: plain server-rendered HTML that refreshes itself."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.deps import SessionsDep, StoreDep
from api.queries import city_status, list_tickets

router = APIRouter(tags=["page"])

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

# What residents see first, in this order.
_SHOWN = ("pm25", "pm10", "water_level", "temperature", "humidity", "noise", "rainfall")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request, store: StoreDep, sessions: SessionsDep) -> HTMLResponse:
    status = city_status(store, sessions)
    tickets, _ = list_tickets(sessions, limit=50)
    html = _templates.get_template("status.html").render(status=status, tickets=tickets, shown=_SHOWN, refresh_s=15)
    return HTMLResponse(html)

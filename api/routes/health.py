"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from api.deps import SessionsDep, StoreDep
from citysense import __version__
from citysense.db.models import Ticket, TicketStatus

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
def healthz(store: StoreDep, sessions: SessionsDep) -> dict[str, Any]:
    """Liveness: answers while the process can reach its stores."""
    with sessions() as session:
        session.execute(text("SELECT 1"))
    store.latest(quantity="water_level")
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "a store does not answer"}})
def readyz(store: StoreDep, sessions: SessionsDep) -> JSONResponse:
    """Readiness: 200 when both stores answer a query, 503 naming the one that does not."""
    checks: dict[str, str] = {}
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
        checks["tickets_db"] = "ok"
    except Exception as exc:  # any failure means "not ready", with the reason
        log.warning("readiness: tickets database: %s", exc)
        checks["tickets_db"] = f"error: {type(exc).__name__}"
    try:
        store.latest(quantity="water_level")
        checks["timeseries"] = "ok"
    except Exception as exc:
        log.warning("readiness: time-series store: %s", exc)
        checks["timeseries"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request, sessions: SessionsDep) -> Response:
    """Prometheus text format: request counts and latencies, open tickets."""
    state = request.app.state
    with sessions() as session:
        open_count = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.status != TicketStatus.RESOLVED)
        )
    state.metrics.open_tickets.set(open_count or 0)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

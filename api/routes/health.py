"""Liveness: answers while the process can reach its stores."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionsDep, StoreDep
from citysense import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(store: StoreDep, sessions: SessionsDep) -> dict[str, Any]:
    with sessions() as session:
        session.execute(text("SELECT 1"))
    store.latest(quantity="water_level")
    return {"status": "ok", "version": __version__}

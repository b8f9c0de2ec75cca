"""The FastAPI application; routes live in `api.routes`, shared state in `app.state`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.routes import health, operator, page, public
from citysense import __version__
from citysense.db import connect
from citysense.settings import ApiSettings
from citysense.timeseries import open_store

__all__ = ["create_app"]


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.store = open_store(settings.timeseries_url)
        app.state.sessions = connect(settings.tickets_url)
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(
        title="citysense",
        version=__version__,
        description="City sensing and proactive service tickets: public status, operator API.",
        lifespan=lifespan,
    )
    for module in (health, public, operator, page):
        app.include_router(module.router)
    return app

"""The FastAPI application; routes live in `api.routes`, shared state in `app.state`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.bodylimit import BodyLimitMiddleware
from api.caching import PublicCache
from api.geo import load_city
from api.live import InvalidateOnTicketWrites, TicketEventListener
from api.media import REPORT_MAX_BODY_BYTES
from api.metrics import Metrics, MetricsMiddleware
from api.ratelimit import RateLimitMiddleware
from api.routes import anomaly, console, feeds, health, media, open311, operator, page, public, report
from api.routes import maintenance as maintenance_routes
from api.secheaders import SecurityHeadersMiddleware, SplitCORSMiddleware
from citysense import __version__
from citysense.db import connect
from citysense.errors import StoreError
from citysense.settings import ApiSettings
from citysense.timeseries import open_store

__all__ = ["create_app"]

STATIC = Path(__file__).resolve().parent / "static"  # the pages' scripts and styles, served as files (CSP)

DESCRIPTION = """City sensing and proactive service tickets.

* **/public/v1**: residents and open data; no login, cached (ETag), rate limited per client.
* **/api/v1**: operators; `Authorization: Bearer <key>` from `citysense keys create --scope ...`.
* **/open311/v2**: Open311 GeoReport v2 service requests.
"""


def create_app(settings: ApiSettings) -> FastAPI:
    city = load_city(settings.city_geojson)  # a broken city file fails here, before serving

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.city = city
        app.state.public_cache = PublicCache(settings.public_cache_s)
        app.state.store = open_store(settings.timeseries_url)
        app.state.sessions = connect(settings.tickets_url)
        dispatcher = None
        if settings.webhooks_enabled:
            from api.webhooks import WebhookDispatcher

            dispatcher = WebhookDispatcher(
                app.state.sessions,
                poll_s=settings.webhook_poll_s,
                max_attempts=settings.webhook_max_attempts,
                backoff_s=settings.webhook_backoff_s,
                timeout_s=settings.webhook_timeout_s,
                allowed_networks=settings.webhook_allowed_networks,
                concurrency=settings.webhook_concurrency,
            )
            dispatcher.start()
        app.state.webhooks = dispatcher
        listener = None
        if settings.ticket_events:
            listener = TicketEventListener(settings.broker, lambda _: app.state.public_cache.invalidate())
            listener.start()
        app.state.ticket_events = listener
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            if dispatcher is not None:
                dispatcher.stop()
            app.state.store.close()
            app.state.sessions.kw["bind"].dispose()

    app = FastAPI(title="citysense", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.metrics = Metrics()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with FastAPI's error list, plus one readable sentence naming each bad parameter."""
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "body", "path"))
            problems.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": jsonable_encoder(exc.errors()), "message": "; ".join(problems)}, status_code=422)

    @app.exception_handler(StoreError)
    async def _store_down(request: Request, exc: StoreError) -> JSONResponse:
        """A store that fails or times out is the server's trouble, not the client's: 503, retry later."""
        return JSONResponse(
            {"detail": "the time-series store did not answer; try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    for module in (health, public, operator, anomaly, open311, page, report, feeds, media):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=True), name="static")
    app.include_router(maintenance_routes.router)
    app.include_router(console.router)
    app.add_middleware(
        RateLimitMiddleware,
        rate_per_s=settings.rate_limit_per_s,
        burst=settings.rate_limit_burst,
        trusted_proxies=settings.trusted_proxies,
    )
    # An oversize body is refused before the rate limiter or any route sees it.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={"/report": max(settings.max_body_bytes, REPORT_MAX_BODY_BYTES)},  # a photo of up to 5 MB
    )
    # CORS wraps both limits, so their 413 and 429 carry the headers the route would have had (a browser
    # on another site can read them and Retry-After). It reads no body; it answers preflights itself.
    app.add_middleware(SplitCORSMiddleware, operator_origins=settings.cors_origins)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(InvalidateOnTicketWrites)
    return app

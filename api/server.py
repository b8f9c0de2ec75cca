"""Serving the API with uvicorn, in the foreground or as a background service."""

from __future__ import annotations

import threading

import uvicorn

from api.app import create_app
from citysense.settings import ApiSettings

__all__ = ["ApiServer"]


class ApiServer:
    def __init__(self, settings: ApiSettings) -> None:
        config = uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            log_config=None,
            # X-Forwarded-For is read by the rate limiter, from `trusted_proxies` only; uvicorn would
            # otherwise believe it from any loopback peer.
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Blocks; returns after Ctrl-C or SIGTERM (uvicorn's own signal handling)."""
        self.server.run()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.run, name="api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

"""Analytics' own HTTP endpoint: `GET /readyz` (200, or 503 with the reason) and `GET /metrics`.

A supervisor (compose's healthcheck, Kubernetes) asks `/readyz`; Prometheus scrapes `/metrics`.
Plain `http.server` in a daemon thread: two tiny routes do not need a web framework.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

__all__ = ["HealthServer"]

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        readiness: Callable[[], tuple[bool, dict[str, Any]]],
        metrics: Callable[[], dict[str, float]],
    ) -> None:
        self.host, self.port = host, port
        self._readiness, self._metrics = readiness, metrics
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/readyz":
                    ready, details = owner._readiness()
                    self._send(200 if ready else 503, "application/json", orjson.dumps({"ready": ready, **details}))
                elif self.path == "/metrics":
                    lines = [f"citysense_analytics_{name} {value}" for name, value in sorted(owner._metrics().items())]
                    self._send(200, "text/plain; version=0.0.4", ("\n".join(lines) + "\n").encode())
                else:
                    self._send(404, "application/json", b'{"detail":"not found: use /readyz or /metrics"}')

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            log.warning("analytics /readyz not served on %s:%d: %s", self.host, self.port, exc.strerror)
            return
        self._server.daemon_threads = True
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="analytics-health", daemon=True).start()
        log.info("analytics /readyz and /metrics on http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

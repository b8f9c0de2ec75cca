"""Per-client rate limiting for the public surfaces: a token bucket per client address.

A pure ASGI middleware (no per-request task or body copy), so its cost stays in microseconds.
Behind a reverse proxy, run uvicorn with `--proxy-headers --forwarded-allow-ips` so that the
client address is the resident's, not the proxy's.
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RateLimitMiddleware"]

_LIMITED_PREFIXES = ("/public/", "/open311/", "/tickets/", "/districts/", "/report")  # + the residents' pages


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, rate_per_s: float, burst: int, max_clients: int = 100_000) -> None:
        self.app = app
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill time)

    def _limited(self, path: str) -> bool:
        return path == "/" or path.startswith(_LIMITED_PREFIXES)

    def take(self, client: str, now: float) -> float:
        """0 when the request may go; otherwise the seconds until the client has a token again."""
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._buckets.clear()  # a flood of addresses: forget them all rather than grow without bound
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.take(client[0] if client else "unknown", time.monotonic())
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        retry = str(max(1, math.ceil(wait)))
        body = b'{"detail":"too many requests from this address; retry after ' + retry.encode() + b' s"}'
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", retry.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

"""Per-client rate limiting for the public surfaces: a token bucket per client address.

A pure ASGI middleware (no per-request task or body copy), so its cost stays in microseconds.
Behind a reverse proxy, name the proxy in `trusted_proxies` (CIDRs): `X-Forwarded-For` is then read
from the right, skipping trusted hops, and the first untrusted address is the client. From any
other peer, loopback included, the header is ignored: anyone could send one. The 429 is in the
GeoReport v2 error shape under /open311 (`api.open311_errors`), `{"detail": "..."}` elsewhere.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from api.open311_errors import error_document, format_of, is_open311

__all__ = ["RateLimitMiddleware"]

_LIMITED_PREFIXES = ("/public/", "/open311/", "/tickets/", "/districts/", "/report")  # + the residents' pages


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_per_s: float,
        burst: int,
        max_clients: int = 100_000,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.trusted = tuple(ipaddress.ip_network(c, strict=False) for c in trusted_proxies)
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill time)

    def _limited(self, path: str) -> bool:
        return path == "/" or path.startswith(_LIMITED_PREFIXES)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def client_of(self, scope: Scope) -> str:
        """The peer's address, or behind trusted proxies the first untrusted hop of X-Forwarded-For."""
        peer = scope.get("client")
        address = peer[0] if peer else "unknown"
        if not self.trusted or not self._is_trusted(address):
            return address
        forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for").decode("latin-1")
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._is_trusted(hop):
                return hop[:64]
        return address

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
        wait = self.take(self.client_of(scope), time.monotonic())
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        retry = str(max(1, math.ceil(wait)))
        description = f"too many requests from this address; retry after {retry} s"
        path = scope["path"]
        if is_open311(path):
            body, content_type = error_document(format_of(path), 429, description)
        else:
            body, content_type = b'{"detail":"' + description.encode() + b'"}', "application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", retry.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

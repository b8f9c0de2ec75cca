"""Security headers on every response, and CORS split by audience.

The public surfaces (`/public`, `/open311`, the status page) may be read by browsers on any site,
without credentials; the operator API answers cross-origin requests only from the origins the
operator names (`cors_origins`), never `*`.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeadersMiddleware", "SplitCORSMiddleware"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# FastAPI's interactive docs load their script and styles from a CDN and start with an inline script.
_DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com;"
    " style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net;"
    " script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; connect-src 'self'; frame-ancestors 'none';"
    " base-uri 'none'; form-action 'self'"
)
_DOCS = ("/docs", "/redoc")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in _DOCS or scope["path"].startswith("/docs/")
        policy = (_DOCS_POLICY if docs else CONTENT_SECURITY_POLICY).encode()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in ((b"content-security-policy", policy), *SECURITY_HEADERS):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


_PUBLIC = ("/public/", "/open311/")


class SplitCORSMiddleware:
    """Public routes: any origin, no credentials. /api/v1 and the rest: only `operator_origins`."""

    def __init__(self, app: ASGIApp, *, operator_origins: Sequence[str]) -> None:
        self.app = app
        self.public = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Content-Type", "If-None-Match"],
            allow_credentials=False,
            expose_headers=["ETag", "Link", "X-Total-Count", "Retry-After"],
            max_age=600,
        )
        self.operator = CORSMiddleware(
            app,
            allow_origins=list(operator_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-API-Key"],
            allow_credentials=False,
            expose_headers=["ETag", "Link", "X-Total-Count", "Retry-After"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        chosen = self.public if path.startswith(_PUBLIC) or path == "/" else self.operator
        await chosen(scope, receive, send)

"""Request bodies are bounded before anything reads them: by Content-Length, then while streaming.

A pure ASGI middleware in front of every route, authentication included: a body announced larger
than the limit is answered 413 before a byte of it is read, and a body that grows past the limit
(chunked, or lying about its length) is cut off at the chunk that crosses it. Nothing past the
limit is ever buffered. Under /open311 the refusal is in the GeoReport v2 error shape
(`api.open311_errors`); elsewhere it is `{"detail": "..."}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.open311_errors import error_document, format_of, is_open311

__all__ = ["BodyLimitMiddleware", "BodyTooLargeError"]


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class BodyTooLargeError(HTTPException):
    """A body that grew past the limit while it was read; a route that reads the body itself may catch it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=_too_large(limit))


class BodyLimitMiddleware:
    """`max_bytes` for every route; `per_path` raises it for the few that take uploads (exact paths)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default_max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await _answer(scope, send, 400, "Content-Length is not a number")
                    return
                if announced > limit:
                    await _answer(scope, send, 413, _too_large(limit))
                    return
        seen = 0
        tripped = False

        async def bounded() -> Message:
            nonlocal seen, tripped
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    tripped = True
                    # Starlette's exception middleware turns this into the 413 answer.
                    raise BodyTooLargeError(limit)
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and tripped:
                # The server then closes the connection instead of reading the rest of the body.
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, bounded, closing)


async def _answer(scope: Scope, send: Send, status: int, description: str) -> None:
    """Refuse the request before reading its body; the connection closes after the answer."""
    if is_open311(scope["path"]):
        body, content_type = error_document(format_of(scope["path"]), status, description)
    else:
        body, content_type = json.dumps({"detail": description}, separators=(",", ":")).encode(), "application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""Request bodies are bounded before anything reads them: by Content-Length, then while streaming.

A pure ASGI middleware in front of every route, authentication included: a body announced larger
than the limit is answered 413 before a byte of it is read, and a body that grows past the limit
(chunked, or lying about its length) is cut off at the chunk that crosses it. Nothing past the
limit is ever buffered.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware"]


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


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
                    await _answer(send, 400, b'{"detail":"Content-Length is not a number"}')
                    return
                if announced > limit:
                    await _answer(send, 413, b'{"detail":"' + _too_large(limit).encode() + b'"}')
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
                    raise HTTPException(413, detail=_too_large(limit))
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and tripped:
                # The server then closes the connection instead of reading the rest of the body.
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, bounded, closing)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

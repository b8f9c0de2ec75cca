"""Request bodies are bounded before anything reads them: by Content-Length, then while streaming.

A pure ASGI middleware in front of every route, authentication included: a body announced larger
than the limit is answered 413 before a byte of it is read, and a body that grows past the limit
(chunked, or lying about its length) is cut off at the chunk that crosses it. Nothing past the
limit is ever buffered.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware"]


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await _answer(send, 400, b'{"detail":"Content-Length is not a number"}')
                    return
                if announced > self.max_bytes:
                    await _answer(send, 413, b'{"detail":"' + _too_large(self.max_bytes).encode() + b'"}')
                    return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Starlette's exception middleware turns this into the 413 answer.
                    raise HTTPException(413, detail=_too_large(self.max_bytes))
            return message

        await self.app(scope, bounded, send)


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

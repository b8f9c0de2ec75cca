"""Request bodies are refused past the limit before anything buffers them, authentication included.

Driven at the ASGI level with a 16 MB body, so the test counts exactly how many bytes
the application pulled before it answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app

CHUNK = 64 * 1024
BODY = 16 * 1024 * 1024  # what an attacker sends; far over the limit


def _post(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, int]:
    """POST a 16 MB body to /api/v1/webhooks without a key; (status, body, bytes the app pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled < BODY}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/webhooks",
        "raw_path": b"/api/v1/webhooks",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, pulled


def test_oversize_unauthenticated_body_is_refused_before_it_is_read(settings, city):
    limit = settings.max_body_bytes
    with TestClient(create_app(settings)) as client:
        app = client.app
        announced, body, pulled = _post(app, [(b"content-length", str(100 * 1024 * 1024).encode())])
        assert announced == 413
        assert b"larger than" in body
        assert pulled == 0  # 100 MB announced: not one byte read

        streamed, body, pulled = _post(app, [(b"transfer-encoding", b"chunked")])
        assert streamed == 413
        assert b"larger than" in body
        assert pulled <= limit + CHUNK  # cut at the chunk that crossed the limit; then no 401, no buffering

        small = client.post("/api/v1/webhooks", json={"url": "https://x.example/h"})
        assert small.status_code == 401  # within the limit, authentication answers as before

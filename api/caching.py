"""Public responses: rendered once per cache period, sent with an ETag, 304 when the client has it.

At a few hundred requests a second most status requests find the bytes already rendered, so the
cost of a request is a dictionary lookup, not a database query.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from api.paging import page_headers

__all__ = ["PublicCache", "conditional"]


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str
    media_type: str
    expires: float
    total: int = 0  # a paged list's matching items (`respond_page`)


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def conditional(
    request: Request,
    body: bytes,
    media_type: str,
    max_age: float,
    etag: str | None = None,
    extra: dict[str, str] | None = None,
) -> Response:
    """`body` with ETag and Cache-Control (and `extra` headers), or an empty 304 when If-None-Match already names it."""
    tag = etag or _etag(body)
    headers = {
        **(extra or {}),
        "ETag": tag,
        "Cache-Control": f"public, max-age={int(max_age)}",
        "Vary": "Accept-Encoding",
    }
    matches = request.headers.get("if-none-match")
    if matches and (matches.strip() == "*" or tag in [m.strip().removeprefix("W/") for m in matches.split(",")]):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


class PublicCache:
    """Rendered bodies by key, for `ttl_s` seconds; one render at a time per key (no stampede)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[Hashable, Rendered] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._generation = 0  # bumped by invalidate(): a render begun before it is not kept

    async def respond(
        self, request: Request, key: Hashable, render: Callable[[], bytes], media_type: str = "application/json"
    ) -> Response:
        entry = await self._entry(key, lambda: (render(), 0), media_type)
        return conditional(request, entry.body, entry.media_type, self.ttl_s, entry.etag)

    async def respond_page(
        self,
        request: Request,
        key: Hashable,
        render: Callable[[], tuple[bytes, int]],
        *,
        offset: int,
        limit: int,
        media_type: str = "application/json",
    ) -> Response:
        """A page of a list: `render` gives the body and how many items match in all.

        The response carries `X-Total-Count` and, while more follow, `Link: rel=next`, like every
        other paged listing (`api.paging`), whether the body was rendered now or cached.
        """
        entry = await self._entry(key, render, media_type)
        headers = page_headers(request, total=entry.total, offset=offset, limit=limit)
        return conditional(request, entry.body, entry.media_type, self.ttl_s, entry.etag, headers)

    async def _entry(self, key: Hashable, render: Callable[[], tuple[bytes, int]], media_type: str) -> Rendered:
        entry = self._entries.get(key)
        if entry is None or entry.expires <= time.monotonic():
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                entry = self._entries.get(key)
                if entry is None or entry.expires <= time.monotonic():
                    generation = self._generation
                    body, total = await run_in_threadpool(render)
                    entry = Rendered(body, _etag(body), media_type, time.monotonic() + self.ttl_s, total)
                    if len(self._entries) > 2048:  # many distinct queries: start over rather than grow
                        self._entries.clear()
                    if generation == self._generation:
                        self._entries[key] = entry
        return entry

    def invalidate(self) -> int:
        """Forget every rendered body (a ticket changed: lists, counts and pages may all show it).

        Called from the ticket-event listener's thread; dropping the dict is one atomic swap.
        Returns how many bodies were dropped.
        """
        dropped = len(self._entries)
        self._generation += 1
        self._entries = {}
        return dropped

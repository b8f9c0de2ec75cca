"""Webhooks: ticket events pushed to subscribers, signed with HMAC-SHA256, retried with backoff.

The ticket timeline is the source and `webhook_deliveries` the durable outbox. Analytics (another
process) and the operator API both add timeline steps; the dispatcher reads steps newer than each
subscriber's cursor, turns them into deliveries in the database, and sends due deliveries. A
delivery survives a restart and is retried with exponential backoff until it succeeds or
`max_attempts` is spent. Run one dispatcher per database (`webhooks_enabled` on one API process).

Each subscriber has its own lane: its deliveries go in order, one at a time, and a failure pauses
that subscriber alone (`webhooks.retry_at`, exponential in its failures in a row). Lanes run
concurrently, and every attempt has a hard deadline (`timeout_s` for the whole exchange), so a
slow or tarpit endpoint delays no other subscriber. Targets are checked after DNS resolution on
every attempt and every redirect (`api.webhook_targets`).

Receivers check `X-Citysense-Signature: sha256=<hex>`, the HMAC-SHA256 with their secret of
`<X-Citysense-Timestamp>.<raw body>`, and may refuse old timestamps to stop replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.queries import is_public_step
from api.services import agency_of
from api.webhook_targets import UnsafeTargetError, networks, resolve_target
from citysense.db.models import Ticket, TicketEvent, Webhook, WebhookDelivery

__all__ = ["WebhookDispatcher", "sign"]

log = logging.getLogger(__name__)

_BACKOFF_CAP_S = 3600.0
_MAX_REDIRECTS = 3
_REDIRECTS = (301, 302, 303, 307, 308)
_DUE_PER_ROUND = 500
_Request = tuple[str, bytes, dict[str, str]]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def newest_event_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.max(TicketEvent.id))) or 0)


def _payload(delivery_id: int, event: TicketEvent, ticket: Ticket) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "event": event.kind,
        "event_id": event.id,
        "at": event.at.isoformat(),
        "message": event.message,
        "ticket": {
            "id": ticket.id,
            "service_code": ticket.service_code,
            "agency": agency_of(ticket.service_code),
            "title": ticket.title,
            "district": ticket.district,
            "severity": ticket.severity,
            "status": ticket.status,
            "opened_at": ticket.opened_at.isoformat(),
            "updated_at": ticket.updated_at.isoformat(),
            "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
            "expected_completion_at": (
                ticket.expected_completion_at.isoformat() if ticket.expected_completion_at else None
            ),
        },
    }


class WebhookDispatcher:
    """A background thread running an event loop of subscriber lanes; `run_once()` does one round and waits."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_s: float,
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
        allowed_networks: Sequence[str] = (),
        concurrency: int = 16,
    ) -> None:
        self._sessions = sessions
        self._poll_s = poll_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._allowed = networks(allowed_networks)
        self._concurrency = concurrency
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency)
        return httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False, limits=limits, trust_env=False)

    async def _serve(self) -> None:
        """Rounds every `poll_s`; a lane still busy (a slow subscriber) is left to finish on its own."""
        lanes: dict[int, asyncio.Task[int]] = {}
        gate = asyncio.Semaphore(self._concurrency)
        async with self._client() as client:
            while not self._stop.is_set():
                try:
                    now = datetime.now(UTC)
                    await asyncio.to_thread(self.enqueue, now)
                    due = await asyncio.to_thread(self._due, now, set(lanes))
                    for hook_id, ids in due.items():
                        lanes[hook_id] = asyncio.create_task(self._lane(client, gate, ids, now))
                except Exception:  # a broken round must not end deliveries for good
                    log.exception("webhook round failed")
                waited = 0.0
                while waited < self._poll_s and not self._stop.is_set():
                    await asyncio.sleep(min(0.1, self._poll_s))
                    waited += 0.1
                for hook_id in [h for h, task in lanes.items() if task.done()]:
                    lanes.pop(hook_id)
            for task in lanes.values():
                task.cancel()
            await asyncio.gather(*lanes.values(), return_exceptions=True)

    def run_once(self, now: datetime | None = None) -> int:
        """Queue new events, then send what is due and wait for it; returns how many deliveries succeeded."""
        return asyncio.run(self._round(now or datetime.now(UTC)))

    async def _round(self, now: datetime) -> int:
        self.enqueue(now)
        gate = asyncio.Semaphore(self._concurrency)
        async with self._client() as client:
            lanes = [self._lane(client, gate, ids, now) for ids in self._due(now, set()).values()]
            return sum(await asyncio.gather(*lanes))

    def enqueue(self, now: datetime) -> int:
        queued = 0
        with self._sessions.begin() as session:
            # Row locks on PostgreSQL: two dispatchers never queue the same event twice.
            hooks = select(Webhook).where(Webhook.active.is_(True)).with_for_update(skip_locked=True)
            for hook in session.scalars(hooks):
                rows = session.execute(
                    select(TicketEvent, Ticket)
                    .join(Ticket, TicketEvent.ticket_id == Ticket.id)
                    .where(TicketEvent.id > hook.last_event_id)
                    .order_by(TicketEvent.id)
                    .limit(1000)
                ).all()
                for event, ticket in rows:
                    hook.last_event_id = event.id
                    if hook.events and event.kind not in hook.events:
                        continue
                    if hook.agency is not None and agency_of(ticket.service_code) != hook.agency:
                        continue
                    if not is_public_step(event):
                        continue  # internal comments stay inside the city
                    session.add(WebhookDelivery(webhook_id=hook.id, event_id=event.id, next_attempt_at=now))
                    queued += 1
        return queued

    def _due(self, now: datetime, busy: set[int]) -> dict[int, list[int]]:
        """Due deliveries by subscriber, oldest first; subscribers paused by their backoff or busy wait."""
        paused = or_(Webhook.retry_at.is_(None), Webhook.retry_at <= now)
        query = (
            select(WebhookDelivery.id, WebhookDelivery.webhook_id)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now, paused)
            .order_by(WebhookDelivery.id)
            .limit(_DUE_PER_ROUND)
        )
        if busy:
            query = query.where(WebhookDelivery.webhook_id.not_in(busy))
        lanes: dict[int, list[int]] = defaultdict(list)
        with self._sessions() as session:
            for delivery_id, hook_id in session.execute(query):
                lanes[hook_id].append(delivery_id)
        return lanes

    async def _lane(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, ids: list[int], now: datetime) -> int:
        """One subscriber's due deliveries in order; the first failure ends the lane (the subscriber backs off)."""
        sent = 0
        for delivery_id in ids:
            async with gate:
                ok = await self._send(client, delivery_id, now)
            if not ok:
                break
            sent += 1
        return sent

    def _claim(self, delivery_id: int, now: datetime) -> tuple[bool, _Request | None]:
        """Take a due delivery for one attempt: (False, None) if another dispatcher has it; None: nothing to send."""
        lease = now + timedelta(seconds=self._timeout_s + 30)
        with self._sessions.begin() as session:
            claimed = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=lease, attempts=WebhookDelivery.attempts + 1)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return False, None
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id) if delivery is not None else None
            event = session.get(TicketEvent, delivery.event_id) if delivery is not None else None
            if delivery is None or hook is None or event is None or not hook.active:
                return True, None
            body = orjson.dumps(_payload(delivery.id, event, event.ticket))
            timestamp = str(int(time.time()))
            return True, (
                hook.url,
                body,
                {
                    "Content-Type": "application/json",
                    "User-Agent": "citysense-webhooks",
                    "X-Citysense-Event": event.kind,
                    "X-Citysense-Delivery": str(delivery.id),
                    "X-Citysense-Timestamp": timestamp,
                    "X-Citysense-Signature": sign(hook.secret, timestamp, body),
                },
            )

    async def _post(self, client: httpx.AsyncClient, request: _Request) -> httpx.Response:
        """POST to a checked address, following redirects only to checked addresses."""
        url, body, headers = request
        for _ in range(_MAX_REDIRECTS + 1):
            target = await resolve_target(url, allowed=self._allowed)
            extensions = {"sni_hostname": target.sni} if target.sni else None
            response = await client.post(
                target.url, content=body, headers={**headers, "Host": target.host}, extensions=extensions
            )
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            url = urljoin(url, location)
        raise UnsafeTargetError(f"more than {_MAX_REDIRECTS} redirects")

    async def _send(self, client: httpx.AsyncClient, delivery_id: int, now: datetime) -> bool:
        claimed, request = await asyncio.to_thread(self._claim, delivery_id, now)
        if not claimed:
            return False
        error: str | None = "subscription or event no longer exists"
        final = request is None
        if request is not None:
            try:
                # The whole exchange, headers trickled byte by byte included, ends at the deadline.
                response = await asyncio.wait_for(self._post(client, request), self._timeout_s)
                error = f"HTTP {response.status_code}" if response.status_code >= 300 else None
            except UnsafeTargetError as exc:
                error, final = f"refused target: {exc}", True
            except TimeoutError:
                error = f"no answer within {self._timeout_s:g} s"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        return await asyncio.to_thread(self._record, delivery_id, now, error, final)

    def _record(self, delivery_id: int, now: datetime, error: str | None, final: bool) -> bool:
        """The attempt's outcome, for the delivery and for its subscriber's backoff."""
        with self._sessions.begin() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return False
            hook = session.get(Webhook, delivery.webhook_id)
            if error is None:
                delivery.status = "delivered"
                delivery.delivered_at = datetime.now(UTC)
                delivery.last_error = None
                if hook is not None:
                    hook.failures, hook.retry_at = 0, None
                return True
            delivery.last_error = error
            if final or delivery.attempts >= self._max_attempts:
                delivery.status = "failed"
                log.warning("webhook delivery %s given up after %s tries: %s", delivery.id, delivery.attempts, error)
            else:
                wait = min(self._backoff_s * 2 ** (delivery.attempts - 1), _BACKOFF_CAP_S)
                delivery.next_attempt_at = now + timedelta(seconds=wait)
            if hook is not None and not final:
                hook.failures += 1
                pause = min(self._backoff_s * 2 ** (hook.failures - 1), _BACKOFF_CAP_S)
                hook.retry_at = now + timedelta(seconds=pause)
            return False

"""Webhooks: ticket events pushed to subscribers, signed with HMAC-SHA256, retried with backoff.

The ticket timeline is the outbox. Analytics (another process) and the operator API both add
timeline steps; the dispatcher reads steps newer than each subscriber's cursor, turns them into
deliveries in the database, and sends due deliveries. A delivery survives a restart and is retried
with exponential backoff until it succeeds or `max_attempts` is spent. Run one dispatcher per
database (`webhooks_enabled` on one API process).

Receivers check `X-Citysense-Signature: sha256=<hex>`, the HMAC-SHA256 with their secret of
`<X-Citysense-Timestamp>.<raw body>`, and may refuse old timestamps to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.queries import is_public_step
from api.services import agency_of
from citysense.db.models import Ticket, TicketEvent, Webhook, WebhookDelivery

__all__ = ["WebhookDispatcher", "sign"]

log = logging.getLogger(__name__)

_BACKOFF_CAP_S = 3600.0


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
    """A background thread: `run_once()` does one round, which the tests call directly."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_s: float,
        max_attempts: int,
        backoff_s: float,
        timeout_s: float,
    ) -> None:
        self._sessions = sessions
        self._poll_s = poll_s
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a broken round must not end deliveries for good
                log.exception("webhook round failed")
            self._stop.wait(self._poll_s)

    def run_once(self, now: datetime | None = None) -> int:
        """Queue new events, then send what is due; returns how many deliveries succeeded."""
        now = now or datetime.now(UTC)
        self.enqueue(now)
        return self.send_due(now)

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

    def send_due(self, now: datetime) -> int:
        with self._sessions() as session:
            due = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.id)
                .limit(200)
            ).all()
            ids = [d.id for d in due]
        sent = 0
        for delivery_id in ids:
            sent += self._send(delivery_id, now)
        return sent

    def _claim(self, delivery_id: int, now: datetime) -> bool:
        """Take a due delivery for one attempt; another dispatcher that raced us finds it taken."""
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
            return bool(claimed.rowcount)  # type: ignore[attr-defined]

    def _send(self, delivery_id: int, now: datetime) -> int:
        if not self._claim(delivery_id, now):
            return 0
        with self._sessions() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            hook = session.get(Webhook, delivery.webhook_id) if delivery is not None else None
            event = session.get(TicketEvent, delivery.event_id) if delivery is not None else None
            if delivery is None or hook is None or event is None or not hook.active:
                request = None
            else:
                body = orjson.dumps(_payload(delivery.id, event, event.ticket))
                timestamp = str(int(time.time()))
                request = (
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
        error: str | None = "subscription or event no longer exists"
        if request is not None:
            url, body, headers = request
            try:
                response = self._client.post(url, content=body, headers=headers)
                error = f"HTTP {response.status_code}" if response.status_code >= 300 else None
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        with self._sessions.begin() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return 0
            if error is None:
                delivery.status = "delivered"
                delivery.delivered_at = datetime.now(UTC)
                delivery.last_error = None
                return 1
            delivery.last_error = error
            if request is None or delivery.attempts >= self._max_attempts:
                delivery.status = "failed"
                log.warning("webhook delivery %s given up after %s tries: %s", delivery.id, delivery.attempts, error)
            else:
                wait = min(self._backoff_s * 2 ** (delivery.attempts - 1), _BACKOFF_CAP_S)
                delivery.next_attempt_at = now + timedelta(seconds=wait)
            return 0

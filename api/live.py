"""Ticket events from analytics (`cs/v1/tickets`) drop the public cache, so residents see a change at once.

Every API replica subscribes on its own (no shared subscription): each holds its own cache. The
subscriber connects in the background and keeps retrying, so an API without a broker still serves,
with changes showing after the cache period instead.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citysense import wire
from citysense.mqtt import make_client
from citysense.settings import BrokerSettings

__all__ = ["InvalidateOnTicketWrites", "TicketEventListener"]

log = logging.getLogger(__name__)


class TicketEventListener:
    """Calls `on_event` (from paho's network thread) for every ticket event; anything else is counted and dropped."""

    def __init__(self, broker: BrokerSettings, on_event: Callable[[wire.TicketEventMessage], None]) -> None:
        self._broker = broker
        self._on_event = on_event
        self._client = make_client(broker, client_id=f"citysense-api-{uuid.uuid4().hex[:12]}")
        self._client.on_connect = self._subscribe
        self._client.on_message = self._message
        self.received = 0
        self.rejected = 0

    def _subscribe(self, client: paho.Client, userdata: object, flags: object, rc: ReasonCode, props: object) -> None:
        if not rc.is_failure:
            client.subscribe(wire.TICKETS_TOPIC, qos=1)

    def _message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            event = wire.parse_ticket_event(bytes(message.payload))
        except ValueError as exc:
            self.rejected += 1
            log.warning("ignored a message on %s that is not a ticket event: %s", message.topic, exc)
            return
        self.received += 1
        try:
            self._on_event(event)
        except Exception:
            log.exception("handling a ticket event failed")

    def start(self) -> None:
        """Connect in the background (never blocks start-up); paho reconnects on its own."""
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._broker.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class InvalidateOnTicketWrites:
    """ASGI middleware: a successful operator write to a ticket drops this replica's public cache at once.

    Operator actions are committed by this process and not (yet) published as ticket events, so
    without this a resident would wait for the cache period to see an acknowledgement or a crew.
    """

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/v1/tickets/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        if not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                cache = getattr(scope["app"].state, "public_cache", None)
                if cache is not None:
                    cache.invalidate()
            await send(message)

        await self.app(scope, receive, sending)

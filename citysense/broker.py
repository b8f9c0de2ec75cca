"""The embedded MQTT broker (amqtt) for the single-process demo, run on its own event loop thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from citysense.errors import BrokerUnavailableError

__all__ = ["EmbeddedBroker"]

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """An MQTT 3.1.1 broker on `host:port`; anonymous, for one machine's demo only."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1884) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    async def _serve(self) -> None:
        broker = _own_retained_only()(self._config())
        self._stopped = asyncio.Event()
        try:
            await broker.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await broker.shutdown()

    def start(self, timeout_s: float = 15.0) -> None:
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._serve(),), name="mqtt-broker", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise BrokerUnavailableError(f"embedded MQTT broker did not start on {self.url}")
        if self._error is not None:
            raise BrokerUnavailableError(f"embedded MQTT broker cannot listen on {self.url}: {self._error}")
        log.info("embedded MQTT broker listening on %s", self.url)

    def stop(self) -> None:
        if self._loop is None or self._stopped is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)
        self._loop.close()


def _own_retained_only() -> type[Any]:
    """amqtt's Broker, sending a (re)connecting client the retained messages of its OWN subscriptions.

    amqtt 0.12 walks every filter any client holds when a client connects, so a new client that
    asked for `cs/v1/deadletter` was sent every device's retained status as soon as some other
    client (ingest's status recorder) subscribed to `cs/v1/+/status`. Mosquitto never does this;
    the embedded broker must not either.
    """
    from amqtt.broker import Broker

    class OwnRetainedBroker(Broker):  # type: ignore[misc]
        async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Any
        ) -> None:
            holders = self._subscriptions.get(subscription[0], [])
            if any(held.client_id == session.client_id for held, _ in holders):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return OwnRetainedBroker

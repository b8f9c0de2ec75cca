"""The agent's MQTT link: connect, publish the disk queue, reconnect with backoff, and nothing else.

One thread owns the paho client (no cross-thread calls into it). Each connection is a fresh
client, so nothing half-sent lingers in paho's memory: the disk queue is the only truth. A pack
leaves the queue when its PUBACK arrives; whatever was in flight when the link dropped is sent
again on the next connection (the store's idempotent write absorbs the rare duplicate).

On connect the packs already queued are the backlog: it drains oldest first at `drain_per_s`,
while packs queued after the connect go out at once, beside it, so live data is never hours late
behind a long outage.

The thread sleeps until the socket has something or `wake()` says a pack was queued (see
`edge.netloop`), and at least every `_TICK_S` for keepalive, health status and the backlog's pace.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from citysense import wire
from citysense.mqtt import Will, make_client
from edge.backoff import Backoff
from edge.config import AgentConfig
from edge.netloop import NetLoop
from edge.queue import DiskQueue

__all__ = ["Link", "LinkCounters"]

log = logging.getLogger(__name__)

# The longest the link sleeps with nothing to do; new packs and broker packets wake it at once.
_TICK_S = 1.0
# The shortest it sleeps waiting for backlog tokens: a fast drain goes out in bursts, not in a busy loop.
_MIN_WAIT_S = 0.01


@dataclass
class LinkCounters:
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    published_packs: int = 0
    acked_packs: int = 0
    backlog_packs: int = 0
    last_error: str | None = None

    def snapshot(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Session:
    connack: bool | None = None
    reason: str = ""
    ready: bool = False
    in_flight: dict[int, int] = field(default_factory=dict)  # mid -> pack id
    acked: list[int] = field(default_factory=list)  # pack ids the broker has, not yet removed from the queue
    boundary: int = 0  # packs with id <= boundary were queued before this connection: the backlog
    live_cursor: int = 0
    backlog_cursor: int = 0
    tokens: float = 0.0
    last_tick: float = field(default_factory=time.monotonic)
    last_health: float = field(default_factory=time.monotonic)


class Link:
    def __init__(
        self,
        config: AgentConfig,
        queue: DiskQueue,
        *,
        status: Callable[[], dict[str, Any]],
        on_config: Callable[[bytes], None],
        rng: random.Random | None = None,
    ) -> None:
        self.device_id = config.device_id
        self._config = config
        self._queue = queue
        self._status = status
        self._on_config = on_config
        self._backoff = Backoff(initial_s=config.reconnect.initial_s, max_s=config.reconnect.max_s, rng=rng)
        self.counters = LinkCounters()
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._status_wanted = threading.Event()
        self._net = NetLoop()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control (any thread)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edge-link", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Say goodbye (retained offline status) when connected, then disconnect."""
        self._stop.set()
        self._net.wake()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        if not self.alive:
            self._net.close()

    def wake(self) -> None:
        """A pack was queued: publish it now rather than at the next tick (safe from any thread)."""
        self._net.wake()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def update(self, config: AgentConfig) -> None:
        """Take a new drain rate or health interval (from a remote configuration)."""
        self._config = config

    def request_status(self) -> None:
        """Publish the status again at once (e.g. after a remote configuration)."""
        self._status_wanted.set()
        self._net.wake()

    # ------------------------------------------------------------------ the link thread

    def _run(self) -> None:
        while not self._stop.is_set():
            self._session()
            if self._stop.is_set():
                break
            delay = self._backoff.next_delay()
            log.info("broker %s unreachable; retrying in %.1fs", self._config.broker.url, delay)
            self._stop.wait(delay)

    def _client(self, session: _Session) -> paho.Client:
        client = make_client(
            self._config.broker,
            client_id=self.device_id,
            username=self._config.username,
            password=self._config.broker.password,
            will=Will(wire.status_topic(self.device_id), wire.status_payload(online=False)),
        )
        client.max_inflight_messages_set(self._config.queue.max_in_flight)

        def on_connect(_c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            session.connack = not rc.is_failure
            session.reason = str(rc)

        def on_publish(_c: paho.Client, _u: object, mid: int, _rc: ReasonCode, _p: object) -> None:
            pack_id = session.in_flight.pop(mid, None)
            if pack_id is not None:
                session.acked.append(pack_id)  # removed after the read, in one statement with the others

        def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
            if message.topic == wire.config_topic(self.device_id) and message.payload:
                self._on_config(bytes(message.payload))
                self._status_wanted.set()

        client.on_connect = on_connect
        client.on_publish = on_publish
        client.on_message = on_message
        return client

    def _session(self) -> None:
        session = _Session()
        client = self._client(session)
        broker = self._config.broker
        try:
            client.connect(broker.host, broker.port, keepalive=broker.keepalive_s)
        except (OSError, ValueError) as exc:
            self.counters.connect_failures += 1
            self.counters.last_error = str(exc)
            return
        try:
            while not self._stop.is_set():
                if self._step(client, session, self._wait_s(session)) != paho.MQTT_ERR_SUCCESS:
                    break
                if session.connack is False:
                    self.counters.connect_failures += 1
                    self.counters.last_error = f"broker refused: {session.reason}"
                    log.warning("broker %s refused %s: %s", broker.url, self.device_id, session.reason)
                    break
                if session.connack and not session.ready:
                    self._on_ready(client, session)
                if session.ready:
                    self._pump(client, session)
                    self._maybe_status(client, session)
        finally:
            if session.ready:
                self.counters.disconnects += 1
            self.connected.clear()
            if self._stop.is_set() and session.ready:
                self._goodbye(client, session)
            else:
                client.disconnect()

    def _step(self, client: paho.Client, session: _Session, timeout_s: float) -> int:
        """One network step; then the packs the broker acknowledged leave the queue."""
        rc = self._net.step(client, timeout_s)
        if session.acked:
            acked, session.acked = session.acked, []
            self.counters.acked_packs += self._queue.ack(acked)
        return rc

    def _wait_s(self, session: _Session) -> float:
        """How long to sleep: a tick, or until the next backlog token when the backlog waits for one."""
        backlog_waits = session.ready and session.backlog_cursor < session.boundary and session.tokens < 1
        if not backlog_waits:
            return _TICK_S
        rate = self._config.queue.drain_per_s
        return min(_TICK_S, max(_MIN_WAIT_S, (1 - session.tokens) / rate))

    def _on_ready(self, client: paho.Client, session: _Session) -> None:
        session.ready = True
        session.boundary = session.backlog_cursor = 0
        session.boundary = self._queue.last_id()
        session.live_cursor = session.boundary
        session.last_tick = time.monotonic()
        backlog = self._queue.depth
        self.counters.connects += 1
        self.counters.backlog_packs = backlog
        self._backoff.reset()
        client.subscribe(wire.config_topic(self.device_id), qos=1)
        self._publish_status(client, session)
        self.connected.set()
        log.info("connected to %s; backlog of %d packs", self._config.broker.url, backlog)

    def _send(self, client: paho.Client, session: _Session, pack_id: int, payload: bytes) -> None:
        info = client.publish(wire.readings_topic(self.device_id), payload, qos=1)
        session.in_flight[info.mid] = pack_id
        self.counters.published_packs += 1

    def _pump(self, client: paho.Client, session: _Session) -> None:
        capacity = self._config.queue.max_in_flight - len(session.in_flight)
        if capacity <= 0:
            return
        # Live lane: everything queued since the connection, at once.
        if self._queue.last_id() > session.live_cursor:
            for pack in self._queue.peek(after_id=session.live_cursor, limit=capacity):
                self._send(client, session, pack.id, pack.payload)
                session.live_cursor = pack.id
                capacity -= 1
        # Backlog lane: oldest first, at most drain_per_s (a token bucket holding one second's worth).
        now = time.monotonic()
        rate = self._config.queue.drain_per_s
        session.tokens = min(rate, session.tokens + (now - session.last_tick) * rate)
        session.last_tick = now
        allowed = min(capacity, int(session.tokens))
        if allowed <= 0 or session.backlog_cursor >= session.boundary:
            return
        backlog = self._queue.peek(after_id=session.backlog_cursor, up_to_id=session.boundary, limit=allowed)
        for pack in backlog:
            self._send(client, session, pack.id, pack.payload)
            session.backlog_cursor = pack.id
        session.tokens -= len(backlog)
        if not backlog:
            session.backlog_cursor = session.boundary

    def _maybe_status(self, client: paho.Client, session: _Session) -> None:
        due = time.monotonic() - session.last_health >= self._config.health_interval_s
        if due or self._status_wanted.is_set():
            self._publish_status(client, session)

    def _publish_status(self, client: paho.Client, session: _Session) -> None:
        self._status_wanted.clear()
        session.last_health = time.monotonic()
        payload = wire.status_payload(online=True, at=round(time.time(), 3), **self._status())
        client.publish(wire.status_topic(self.device_id), payload, qos=1, retain=True)

    def _goodbye(self, client: paho.Client, session: _Session) -> None:
        """Wait briefly for packs in flight, then leave a retained offline status behind."""
        deadline = time.monotonic() + 3.0
        while session.in_flight and time.monotonic() < deadline:
            if self._step(client, session, deadline - time.monotonic()) != paho.MQTT_ERR_SUCCESS:
                return
        status = self._status()
        info = client.publish(
            wire.status_topic(self.device_id),
            wire.status_payload(online=False, at=round(time.time(), 3), **status),
            qos=1,
            retain=True,
        )
        while not info.is_published() and time.monotonic() < deadline + 2.0:
            if self._step(client, session, deadline + 2.0 - time.monotonic()) != paho.MQTT_ERR_SUCCESS:
                break
        client.disconnect()  # paho writes DISCONNECT at once and closes the socket (no loop thread)

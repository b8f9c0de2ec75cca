"""Many simulated devices, each with its own MQTT session, in one thread.

The edge agent runs a link thread per device, which is right on a Raspberry Pi (one device) and
wrong for 10,000 simulated ones: 10,000 threads. Here every device has its own paho client (its
own TCP connection, client id = device id, persistent session, QoS 1), and one thread drives them
all: a selector over every session's socket (`loop_read`/`loop_write` when the socket is ready,
`loop_misc` for keep-alives once a second), a heap of due reports, and reconnects with backoff.
Store-and-forward: a report made while its session is down waits in the session's queue (paho's,
in memory) and goes out, with the in-flight ones, when the session is back; the broker keeps the
persistent session meanwhile. One socket per device: 10,000 devices need about 10,000 open files.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import selectors
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from citysense import wire
from citysense.mqtt import make_client
from citysense.settings import BrokerSettings
from citysense.wire import Reading

__all__ = ["Swarm", "SwarmStats"]

log = logging.getLogger(__name__)

ReadingsOf = Callable[[str, int], list[Reading]]


@dataclass(slots=True)
class SwarmStats:
    sessions: int = 0
    connected: int = 0
    connects: int = 0
    disconnects: int = 0
    packs_published: int = 0
    readings_published: int = 0
    packs_acknowledged: int = 0
    ack_ms: list[float] = field(default_factory=list)

    def p99_ack_ms(self) -> float | None:
        if not self.ack_ms:
            return None
        ordered = sorted(self.ack_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass(slots=True)
class _Session:
    device_id: str
    client: paho.Client
    connected: bool = False
    socket_open: bool = False
    retry_at: float = 0.0
    sent_at: dict[int, float] = field(default_factory=dict)


class Swarm:
    """`readings(device_id, time_ms)` makes one device's report; each device reports every
    `interval_s`, staggered over the interval (`rounds` times, or until stopped). `run_until` blocks;
    `start` runs it in one thread."""

    def __init__(
        self,
        broker: BrokerSettings,
        device_ids: Sequence[str],
        readings: ReadingsOf,
        *,
        interval_s: float = 60.0,
        connects_per_s: float = 500.0,
        keepalive_s: int = 60,
        rounds: int | None = None,
        seed: int = 1,
    ) -> None:
        self.broker = broker
        self.interval_s = interval_s
        self.connects_per_s = connects_per_s
        self.keepalive_s = keepalive_s
        self.rounds = rounds
        self._readings = readings
        self._rng = random.Random(seed)
        self._selector = selectors.DefaultSelector()
        self._sessions = [self._session(device_id) for device_id in device_ids]
        self.stats = SwarmStats(sessions=len(self._sessions))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ sessions

    def _session(self, device_id: str) -> _Session:
        client = make_client(self.broker, client_id=device_id, clean_session=False)
        client.max_inflight_messages_set(20)
        client.max_queued_messages_set(0)  # 0: no limit, the store-and-forward queue
        session = _Session(device_id, client)
        client.user_data_set(session)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return session

    def _on_socket_open(self, _c: paho.Client, session: _Session, sock: Any) -> None:
        session.socket_open = True
        self._selector.register(sock, selectors.EVENT_READ, session)

    def _on_socket_close(self, _c: paho.Client, session: _Session, sock: Any) -> None:
        session.socket_open = False
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _on_register_write(self, _c: paho.Client, session: _Session, sock: Any) -> None:
        self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, session)

    def _on_unregister_write(self, _c: paho.Client, session: _Session, sock: Any) -> None:
        if session.socket_open:
            self._selector.modify(sock, selectors.EVENT_READ, session)

    def _on_connect(self, _c: paho.Client, session: _Session, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.warning("broker refused %s: %s", session.device_id, rc)
            return
        session.connected = True
        self.stats.connected += 1
        self.stats.connects += 1

    def _on_disconnect(self, _c: paho.Client, session: _Session, _f: object, _rc: ReasonCode, _p: object) -> None:
        if session.connected:
            self.stats.connected -= 1
            self.stats.disconnects += 1
        session.connected = False
        session.retry_at = time.monotonic() + 1.0 + self._rng.random() * 4.0

    def _on_publish(self, _c: paho.Client, session: _Session, mid: int, _rc: ReasonCode, _p: object) -> None:
        sent = session.sent_at.pop(mid, None)
        self.stats.packs_acknowledged += 1
        if sent is not None and len(self.stats.ack_ms) < 1_000_000:
            self.stats.ack_ms.append((time.monotonic() - sent) * 1000)

    def _connect(self, session: _Session) -> None:
        try:
            if session.client.socket() is None and session.retry_at == 0.0:
                session.client.connect(self.broker.host, self.broker.port, keepalive=self.keepalive_s)
            else:
                session.client.reconnect()
        except OSError as exc:
            session.retry_at = time.monotonic() + 1.0 + self._rng.random() * 4.0
            log.debug("%s could not connect: %s", session.device_id, exc)
            return
        session.retry_at = -1.0  # connecting; the next retry time comes from a disconnect

    # ------------------------------------------------------------------ the loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_until, args=(self._stop,), name="swarm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_until(self, stop: threading.Event) -> None:
        began = time.monotonic()
        n = len(self._sessions)
        due = [(began + self.interval_s * i / n, i) for i in range(n)]
        heapq.heapify(due)
        to_connect = 0
        next_misc = began + 1.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                # Connect at a bounded rate: a thundering herd of 10,000 CONNECTs helps nobody.
                allowed = min(n, int((now - began) * self.connects_per_s) + 1)
                while to_connect < allowed:
                    self._connect(self._sessions[to_connect])
                    to_connect += 1
                while due and due[0][0] <= now:
                    at, i = heapq.heappop(due)
                    self._report(self._sessions[i])
                    if self.rounds is None or at + self.interval_s < began + self.interval_s * self.rounds:
                        heapq.heappush(due, (at + self.interval_s, i))
                timeout = max(0.0, min(0.05, (due[0][0] - now) if due else 0.05))
                if not self._sessions:
                    stop.wait(timeout)
                    continue
                for key, mask in self._selector.select(timeout):
                    session: _Session = key.data
                    if mask & selectors.EVENT_READ:
                        session.client.loop_read(16)
                    if mask & selectors.EVENT_WRITE and session.socket_open:
                        session.client.loop_write()
                if now >= next_misc:
                    next_misc = now + 1.0
                    self._housekeeping(now, to_connect)
        finally:
            for session in self._sessions:
                if session.socket_open:
                    session.client.disconnect()
                    session.client.loop_write()

    def _report(self, session: _Session) -> None:
        time_ms = round(time.time() * 1000)
        readings = self._readings(session.device_id, time_ms)
        if not readings:
            return
        pack = wire.build_pack(session.device_id, readings)
        info = session.client.publish(wire.readings_topic(session.device_id), pack, qos=1)
        session.sent_at[info.mid] = time.monotonic()
        self.stats.packs_published += 1
        self.stats.readings_published += len(readings)

    def _housekeeping(self, now: float, connecting: int) -> None:
        for session in self._sessions[:connecting]:
            if session.socket_open:
                session.client.loop_misc()  # keep-alive pings; notices a silent broker
            elif session.retry_at >= 0 and now >= session.retry_at:
                self._connect(session)

"""A listening MQTT client for tests and benchmarks: collects what arrives on a topic."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import paho.mqtt.client as paho

from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import BrokerSettings


class Collector:
    def __init__(self) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()

    def add(self, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def wait_for(self, predicate: Callable[[list[paho.MQTTMessage]], bool], timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.messages)):
                    return
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout_s}s; got {len(self.messages)} messages")


class _Receiver(Protocol):
    def add(self, message: paho.MQTTMessage) -> None: ...


@contextmanager
def listening(
    broker: BrokerSettings, topic: str, *, into: _Receiver | None = None, persistent: bool = False
) -> Iterator[Any]:
    """Subscribe at QoS 1 and hand every message to `into` (a new Collector unless given).

    `persistent`: a session the broker keeps across a disconnect or a restart (with persistence),
    reconnecting quickly, so nothing meant for this subscriber is lost in between.
    """
    receiver = into if into is not None else Collector()
    client = make_client(broker, client_id=f"test-{uuid.uuid4().hex[:8]}", clean_session=not persistent)
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, m: receiver.add(m)
    if persistent:
        client.reconnect_delay_set(min_delay=1, max_delay=2)
    connect_and_wait(client, broker)
    assert subscribed.wait(10), "subscription not confirmed"
    try:
        yield receiver
    finally:
        client.disconnect()
        client.loop_stop()


def publish(broker: BrokerSettings, topic: str, payloads: list[bytes], **kwargs: Any) -> None:
    """Publish at QoS 1 and wait for every PUBACK."""
    client = make_client(broker, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    connect_and_wait(client, broker)
    try:
        infos = [client.publish(topic, p, qos=1, **kwargs) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout_s}s")

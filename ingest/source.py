"""The MQTT source: a shared subscription with manual acknowledgement and a bounded window.

Ingest connects with MQTT 5 where the broker speaks it and sets Receive Maximum to
`max_in_flight`: the broker then never has more than that many unacknowledged messages out to
this worker. When the store stalls, acknowledgements stop, the window fills, and the broker stops
sending and keeps the rest queued in the session: back-pressure without blocking paho's network
thread (so keep-alives go on). Brokers that only speak MQTT 3.1.1 (the demo's embedded amqtt) get
a 3.1.1 session and bound the window themselves (Mosquitto: `max_inflight_messages`).

Every connection is a new generation. After a reconnect the broker resends what was not
acknowledged, under the same packet ids, and may reuse an id once it is acknowledged: so a
delivery from an older connection is never acknowledged (its resent copy is), which keeps a late
ack from acknowledging some other, not yet stored, message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from citysense import wire
from citysense.errors import BrokerUnavailableError
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import IngestSettings

__all__ = ["Delivery", "MqttSource"]

log = logging.getLogger(__name__)

# Keep the session (and what the broker queues for it) for a week without this worker.
_SESSION_EXPIRY_S = 7 * 24 * 3600
_SUBSCRIBE_WAIT_S = 10.0


@dataclass(slots=True)
class Delivery:
    """One received MQTT message, until it is acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: float  # time.monotonic()


class MqttSource:
    def __init__(self, settings: IngestSettings, deliver: Callable[[Delivery], None]) -> None:
        self.settings = settings
        self._deliver = deliver
        self._client: paho.Client | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self.protocol = "MQTT 5"
        # Set once the broker has granted the subscription: from then on nothing published is missed.
        self.subscribed = threading.Event()

    @property
    def connections(self) -> int:
        """How many times this source has connected (and subscribed)."""
        return self._generation

    @property
    def connected(self) -> bool:
        """Connected and subscribed: messages can arrive."""
        return self._client is not None and self._client.is_connected() and self.subscribed.is_set()

    @property
    def subscription(self) -> str:
        return wire.SHARED_READINGS_FILTER if self.settings.shared_subscription else wire.READINGS_FILTER

    def start(self) -> None:
        try:
            self._client = self._connect(paho.MQTTv5)
        except BrokerUnavailableError as exc:
            log.info("broker did not take an MQTT 5 session (%s); using MQTT 3.1.1", exc)
            self.protocol = "MQTT 3.1.1"
            self._client = self._connect(paho.MQTTv311)
        if not self.subscribed.wait(_SUBSCRIBE_WAIT_S):
            log.warning("the broker has not confirmed the subscription to %s yet", self.subscription)
            return
        log.info("ingest subscribed to %s over %s", self.subscription, self.protocol)

    def _connect(self, protocol: MQTTProtocolVersion) -> paho.Client:
        client = make_client(
            self.settings.broker,
            client_id=self.settings.client_id,
            clean_session=False,
            manual_ack=True,
            protocol=protocol,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if protocol == paho.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.ReceiveMaximum = min(self.settings.max_in_flight, 65535)
            properties.SessionExpiryInterval = _SESSION_EXPIRY_S
            connect_and_wait(client, self.settings.broker, clean_start=False, properties=properties)
        else:
            connect_and_wait(client, self.settings.broker)
        return client

    def _on_connect(self, client: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.warning("broker refused ingest: %s", rc)
            return
        with self._lock:
            self._generation += 1
        self.subscribed.clear()
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(self, _c: paho.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object) -> None:
        refused = [code for code in codes if code.is_failure]
        if refused:
            log.error("broker refused the subscription to %s: %s", self.subscription, refused[0])
            return
        self.subscribed.set()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        self._deliver(
            Delivery(
                message.topic, bytes(message.payload), message.mid, message.qos, self._generation, time.monotonic()
            )
        )

    def ack(self, deliveries: Iterable[Delivery]) -> int:
        """Acknowledge deliveries of the current connection; the number acknowledged."""
        if self._client is None:
            return 0
        acked = 0
        current = self._generation
        for delivery in deliveries:
            if delivery.generation != current:
                continue  # the broker resends it on this connection; that copy gets the ack
            if delivery.qos > 0:
                self._client.ack(delivery.mid, delivery.qos)
            acked += 1
        return acked

    def publish(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo | None:
        if self._client is None:
            return None
        return self._client.publish(topic, payload, qos=1)

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

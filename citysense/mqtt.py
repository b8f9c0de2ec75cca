"""One way to build and connect a paho-mqtt client, shared by the edge, ingest and analytics.

Keeping client construction in one place means TLS, credentials, protocol version and the
reconnect policy are the same everywhere.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from citysense.errors import BrokerUnavailableError
from citysense.settings import BrokerSettings

__all__ = ["Will", "connect_and_wait", "make_client"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def make_client(
    broker: BrokerSettings,
    *,
    client_id: str,
    clean_session: bool = True,
    manual_ack: bool = False,
    will: Will | None = None,
    username: str | None = None,
    password: str | None = None,
    protocol: MQTTProtocolVersion = paho.MQTTv311,
) -> paho.Client:
    """A configured, not yet connected MQTT 3.1.1 client.

    MQTT 3.1.1 because both brokers we run (Mosquitto and the embedded amqtt) speak it and
    shared subscriptions work with it on Mosquitto. Ingest asks for `protocol=paho.MQTTv5` where
    the broker speaks it, for the Receive Maximum that bounds its unacknowledged messages; an
    MQTT 5 session is set with `connect_and_wait(clean_start=..., properties=...)` instead of
    `clean_session`.
    """
    session: dict[str, Any] = {} if protocol == paho.MQTTv5 else {"clean_session": clean_session}
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=manual_ack,
        **session,
    )
    user = username if username is not None else broker.username
    secret = password if password is not None else broker.password
    if user:
        client.username_pw_set(user, secret)
    if broker.tls:
        client.tls_set(
            ca_certs=str(broker.ca_file) if broker.ca_file else None,
            certfile=str(broker.cert_file) if broker.cert_file else None,
            keyfile=str(broker.key_file) if broker.key_file else None,
        )
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def connect_and_wait(
    client: paho.Client,
    broker: BrokerSettings,
    timeout_s: float = 10.0,
    *,
    clean_start: bool | Literal[3] = paho.MQTT_CLEAN_START_FIRST_ONLY,
    properties: Properties | None = None,
) -> None:
    """Connect, start the network thread and wait for the broker's CONNACK.

    Raises BrokerUnavailableError with the broker's own reason when it refuses or never answers,
    so a misconfigured service stops at start-up with a message instead of retrying silently.
    """
    connected = threading.Event()
    outcome: list[str] = []
    previous: Any = client.on_connect  # the caller's handler (subscribes), chained below

    def on_connect(c: paho.Client, userdata: object, flags: object, rc: ReasonCode, props: object) -> None:
        if rc.is_failure:
            outcome.append(str(rc))
        connected.set()
        if previous is not None:
            previous(c, userdata, flags, rc, props)

    client.on_connect = on_connect
    try:
        if properties is None and clean_start == paho.MQTT_CLEAN_START_FIRST_ONLY:
            client.connect(broker.host, broker.port, keepalive=broker.keepalive_s)
        else:  # MQTT 5 only
            client.connect(
                broker.host, broker.port, keepalive=broker.keepalive_s, clean_start=clean_start, properties=properties
            )
    except OSError as exc:
        raise BrokerUnavailableError(f"cannot reach MQTT broker at {broker.url}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise BrokerUnavailableError(f"MQTT broker at {broker.url} did not answer within {timeout_s:.0f}s")
        if outcome:
            raise BrokerUnavailableError(f"MQTT broker at {broker.url} refused the connection: {outcome[0]}")
    except BrokerUnavailableError:
        client.loop_stop()
        client.disconnect()
        raise
    finally:
        client.on_connect = previous
    log.debug("connected to %s", broker.url)

"""One device's MQTT session: last will, retained online status, QoS 1 SenML packs.

The edge agent and the simulators both publish through this class, so the simulated city
exercises the same code a lamp-post node runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import paho.mqtt.client as paho

from citysense import __version__, wire
from citysense.mqtt import Will, connect_and_wait, make_client
from citysense.settings import BrokerSettings

__all__ = ["Publisher"]

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        device_id: str,
        broker: BrokerSettings,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if not wire.is_valid_device_id(device_id):
            raise ValueError(f"invalid device id {device_id!r}")
        self.device_id = device_id
        self._broker = broker
        self._started = time.monotonic()
        self._client: paho.Client = make_client(
            broker,
            client_id=device_id,
            # A device logs in as itself: the broker's ACL keys on the username.
            username=username if username is not None else device_id,
            password=password,
            will=Will(wire.status_topic(device_id), wire.status_payload(online=False)),
        )
        self._pending: list[paho.MQTTMessageInfo] = []

    def start(self) -> None:
        connect_and_wait(self._client, self._broker)
        status = wire.status_payload(online=True, agent_version=__version__, at=time.time())
        self._client.publish(wire.status_topic(self.device_id), status, qos=1, retain=True)

    def publish(self, readings: Sequence[wire.Reading]) -> paho.MQTTMessageInfo:
        """Queue one pack for delivery at QoS 1; the returned info says when the broker has it."""
        payload = wire.build_pack(self.device_id, readings)
        info = self._client.publish(wire.readings_topic(self.device_id), payload, qos=1)
        self._pending = [p for p in self._pending if not p.is_published()]
        self._pending.append(info)
        return info

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the broker has acknowledged everything published so far."""
        deadline = time.monotonic() + timeout_s
        for info in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                info.wait_for_publish(remaining)
            except (RuntimeError, ValueError):
                return False
        done = all(info.is_published() for info in self._pending)
        if done:
            self._pending.clear()
        return done

    def stop(self) -> None:
        """Flush, say goodbye with a retained offline status, and disconnect."""
        self.flush()
        uptime = round(time.monotonic() - self._started, 1)
        info = self._client.publish(
            wire.status_topic(self.device_id),
            wire.status_payload(online=False, uptime_s=uptime),
            qos=1,
            retain=True,
        )
        try:
            info.wait_for_publish(5)
        except (RuntimeError, ValueError):
            log.warning("%s: offline status not confirmed", self.device_id)
        self._client.disconnect()
        self._client.loop_stop()

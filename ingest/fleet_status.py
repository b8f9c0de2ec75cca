"""The nodes' retained status messages, kept in the device registry: agent version, queue depth, battery.

Each node publishes `cs/v1/{id}/status` (retained) with its health: `agent_version`,
`queue_depth` (packs waiting on its disk), and a battery level when it has one (`battery_pct`).
Ingest listens on its own connection and writes the latest of each registered device to the
registry, where the operators' console shows it. A malformed status is logged and skipped: it
describes the node, it carries no reading that could be lost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as paho
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from citysense import wire
from citysense.db.models import Device
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import BrokerSettings

__all__ = ["NodeStatus", "StatusRecorder", "parse_status"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    device_id: str
    state: str
    at: datetime
    agent_version: str | None
    queue_depth: int | None
    battery_pct: float | None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_status(topic: str, payload: bytes, *, received_at: datetime | None = None) -> NodeStatus | None:
    """A status message as registry facts, or None when it is not one (wrong topic, not a JSON object)."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[3] != "status" or not wire.is_valid_device_id(parts[2]):
        return None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or body.get("state") not in ("online", "offline"):
        return None
    at = _number(body.get("at"))
    version = body.get("agent_version")
    depth = _number(body.get("queue_depth"))
    battery = _number(body.get("battery_pct"))
    return NodeStatus(
        device_id=parts[2],
        state=str(body["state"]),
        at=datetime.fromtimestamp(at, UTC) if at is not None else (received_at or datetime.now(UTC)),
        agent_version=str(version)[:32] if isinstance(version, str) else None,
        queue_depth=int(depth) if depth is not None and depth >= 0 else None,
        battery_pct=battery if battery is not None and 0 <= battery <= 100 else None,
    )


def record(sessions: sessionmaker[Session], status: NodeStatus) -> bool:
    """Write one status to its device's registry row; False when the device is not registered."""
    values: dict[str, Any] = {"status_state": status.state, "status_at": status.at}
    # An offline will carries no health: keep what the node last said about itself.
    for name in ("agent_version", "queue_depth", "battery_pct"):
        if getattr(status, name) is not None:
            values[name] = getattr(status, name)
    with sessions.begin() as session:
        result = session.execute(update(Device).where(Device.id == status.device_id).values(**values))
    return bool(getattr(result, "rowcount", 0))


class StatusRecorder:
    """Subscribes to every node's status and records it; one per ingest process."""

    def __init__(self, broker: BrokerSettings, sessions: sessionmaker[Session], *, client_id: str) -> None:
        self._broker, self._sessions, self._client_id = broker, sessions, client_id
        self._client: paho.Client | None = None
        self.recorded = 0
        self.skipped = 0
        self.subscribed = threading.Event()

    def start(self) -> None:
        client = make_client(self._broker, client_id=self._client_id)
        client.on_connect = lambda c, *_: c.subscribe(wire.STATUS_FILTER, qos=1)
        client.on_subscribe = lambda *_: self.subscribed.set()
        client.on_message = self._on_message
        connect_and_wait(client, self._broker)
        self._client = client

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        status = parse_status(message.topic, bytes(message.payload))
        try:
            if status is not None and record(self._sessions, status):
                self.recorded += 1
                return
        except Exception:
            log.exception("could not record the status of %s", message.topic[:200])
        self.skipped += 1

"""The nodes' retained status messages, kept in the device registry: agent version, queue depth, battery.

Each node publishes `cs/v1/{id}/status` (retained) with its health: `agent_version`,
`queue_depth` (packs waiting on its disk), and a battery level when it has one (`battery_pct`).
Ingest listens on its own connection and writes the latest of each registered device to the
registry, where the operators' console shows it. A malformed status is logged and skipped: it
describes the node, it carries no reading that could be lost.

With a time-series store it also writes queue depth and battery as health points (scope `device`,
apart from readings, see `citysense.timeseries.base.HealthPoint`) for Grafana, at most one per
device and metric per `every_s`, stamped with the status's own time so a redelivered status is
stored once.
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
from citysense.errors import StoreError
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import BrokerSettings
from citysense.timeseries import DeviceTags, HealthPoint, TimeSeriesStore

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
    # An online node that says `"battery_pct": null` has no battery level any more (a HAT removed):
    # the registry forgets the old one instead of showing it for ever.
    battery_gone: bool = False


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
        battery_gone=body["state"] == "online" and "battery_pct" in body and body["battery_pct"] is None,
    )


def record(sessions: sessionmaker[Session], status: NodeStatus) -> DeviceTags | None:
    """Write one status to its device's registry row; the device's district and kind, None when
    the device is not registered."""
    values: dict[str, Any] = {"status_state": status.state, "status_at": status.at}
    # An offline will carries no health: keep what the node last said about itself.
    for name in ("agent_version", "queue_depth", "battery_pct"):
        if getattr(status, name) is not None:
            values[name] = getattr(status, name)
    if status.battery_gone:
        values["battery_pct"] = None
    statement = update(Device).where(Device.id == status.device_id).values(**values)
    with sessions.begin() as session:
        row = session.execute(statement.returning(Device.district, Device.kind)).first()
    return DeviceTags(row.district, row.kind) if row is not None else None


class HealthThrottle:
    """Which of a status's figures become health points: at most one per device and metric per `every_s`."""

    METRICS = ("queue_depth", "battery_pct")

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_ms = int(every_s * 1000)
        self._last: dict[tuple[str, str], int] = {}

    def points(self, status: NodeStatus, tags: DeviceTags | None) -> list[HealthPoint]:
        at_ms = int(status.at.timestamp() * 1000)
        found = []
        for metric in self.METRICS:
            value = getattr(status, metric)
            key = (status.device_id, metric)
            last = self._last.get(key)
            if value is None or (last is not None and abs(at_ms - last) < self.every_ms):
                continue
            self._last[key] = at_ms
            found.append(HealthPoint("device", status.device_id, metric, float(value), at_ms, tags))
        return found


class StatusRecorder:
    """Subscribes to every node's status and records it; one per ingest process."""

    def __init__(
        self,
        broker: BrokerSettings,
        sessions: sessionmaker[Session],
        *,
        client_id: str,
        store: TimeSeriesStore | None = None,
        health_every_s: float = 60.0,
    ) -> None:
        self._broker, self._sessions, self._client_id = broker, sessions, client_id
        self._store = store
        self._throttle = HealthThrottle(health_every_s)
        self.health_points = 0
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
        tags = None
        try:
            if status is not None:
                tags = record(self._sessions, status)
        except Exception:
            log.exception("could not record the status of %s", message.topic[:200])
        if status is None or tags is None:
            self.skipped += 1
            return
        self.recorded += 1
        if self._store is not None:
            self._write_health(status, tags)

    def _write_health(self, status: NodeStatus, tags: DeviceTags) -> None:
        points = self._throttle.points(status, tags)
        try:
            self.health_points += self._store.write_health(points) if self._store is not None and points else 0
        except StoreError as exc:
            # The registry has the figure; the series misses one point, the next status brings another.
            log.warning("health of %s not stored: %s", status.device_id, exc)

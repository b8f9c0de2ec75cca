"""Where a simulated fleet's readings go: MQTT through the edge publishing code, or the store directly.

A sink takes one device's readings at a time (`send`), can be asked to make sure everything sent
so far has arrived (`sync`: the broker acknowledged it, or the store committed it) and is closed
at the end. The MQTT sink gives every device its own session through `edge.publisher.Publisher`,
the code a lamp-post node runs, so connection handling and QoS 1 delivery are exercised for real.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from citysense.settings import BrokerSettings
from citysense.timeseries.base import DeviceTags
from citysense.wire import Reading
from simulators.city import SimDevice

__all__ = ["CollectSink", "MqttSink", "Sink", "StoreSink"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    def open(self, devices: Sequence[SimDevice]) -> None: ...
    def send(self, device: SimDevice, readings: list[Reading]) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


class MqttSink:
    """One MQTT session per device (its own login, last will and retained status), as on the street."""

    def __init__(self, broker: BrokerSettings) -> None:
        self.broker = broker
        self._publishers: dict[str, object] = {}

    def open(self, devices: Sequence[SimDevice]) -> None:
        from edge.publisher import Publisher

        try:
            for device in devices:
                publisher = Publisher(device.device_id, self.broker)
                publisher.start()
                self._publishers[device.device_id] = publisher
        except BaseException:
            self.close()
            raise

    def send(self, device: SimDevice, readings: list[Reading]) -> None:
        self._publishers[device.device_id].publish(readings)  # type: ignore[attr-defined]

    def sync(self) -> None:
        """Wait for the broker's PUBACKs (keeps an accelerated run from queueing without bound)."""
        for device_id, publisher in self._publishers.items():
            if not publisher.flush(30.0):  # type: ignore[attr-defined]
                log.warning("%s: broker did not acknowledge everything within 30s", device_id)

    def close(self) -> None:
        publishers, self._publishers = self._publishers, {}
        for publisher in publishers.values():
            publisher.stop()  # type: ignore[attr-defined]


class StoreSink:
    """Writes straight into the time-series store in large batches (history backfills, evaluation)."""

    def __init__(self, url: str, *, batch: int = 20_000) -> None:
        from citysense.timeseries import open_store

        self.url = url
        self.store = open_store(url)
        self.batch = batch
        self.stored = 0
        self._buffer: list[Reading] = []
        self._tags: dict[str, DeviceTags] = {}

    def open(self, devices: Sequence[SimDevice]) -> None:
        # What ingest adds from the registry, so backfilled history groups by district and kind too.
        self._tags = {d.device_id: DeviceTags(d.district, d.kind, d.lat, d.lon) for d in devices}

    def send(self, device: SimDevice, readings: list[Reading]) -> None:
        self._buffer.extend(readings)
        if len(self._buffer) >= self.batch:
            self.sync()

    def sync(self) -> None:
        if self._buffer:
            self.stored += self.store.write(self._buffer, devices=self._tags)
            self._buffer = []

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self.store.close()


class CollectSink:
    """Keeps every reading in memory, in order (for tests and small tools)."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def open(self, devices: Sequence[SimDevice]) -> None:
        return None

    def send(self, device: SimDevice, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None

"""A fleet of virtual devices publishing over MQTT through the edge agent's own Publisher."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from citysense.settings import BrokerSettings
from citysense.wire import Reading
from edge.drivers import VirtualDriver
from edge.publisher import Publisher
from simulators.city import SimDevice
from simulators.signals import SignalModel

__all__ = ["Fleet"]

log = logging.getLogger(__name__)


class Fleet:
    """Each device has its own MQTT session (its own login, last will and status), as on the street."""

    def __init__(
        self,
        devices: list[SimDevice],
        model: SignalModel,
        broker: BrokerSettings,
        *,
        interval_s: float,
        on_published: Callable[[list[Reading]], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.devices = devices
        self.model = model
        self.interval_s = interval_s
        self.readings_sent = 0
        self.rounds = 0
        self._broker = broker
        self._on_published = on_published
        self._tick_time = model.start_time
        self._publishers: dict[str, Publisher] = {}
        self._drivers: dict[str, VirtualDriver] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _driver(self, device: SimDevice) -> VirtualDriver:
        return VirtualDriver(device.quantities, lambda now: self.model.sample(device, now), lambda: self._tick_time)

    def connect(self) -> None:
        """Open every device's MQTT session (each logs in as itself and announces it is online)."""
        for device in self.devices:
            publisher = Publisher(device.device_id, self._broker)
            publisher.start()
            self._publishers[device.device_id] = publisher
            self._drivers[device.device_id] = self._driver(device)

    def start(self) -> None:
        """Connect and publish a round every `interval_s` of wall time until stopped."""
        self.connect()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self._thread.start()
        log.info("fleet of %d devices publishing every %.1fs", len(self.devices), self.interval_s)

    def run_rounds(self, rounds: int) -> None:
        """Publish `rounds` rounds without waiting between them (tests, backfills)."""
        for _ in range(rounds):
            self._round(self.model.start_time + self.rounds * self.interval_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self.model.start_time + self.rounds * self.interval_s
            wait = due - time.time()
            if wait > 0 and self._stop.wait(wait):
                return
            self._round(due)

    def _round(self, due: float) -> None:
        self._tick_time = due
        time_ms = round(due * 1000)
        for device in self.devices:
            values = self._drivers[device.device_id].read()
            readings = [Reading(device.device_id, q, v, time_ms) for q, v in values.items()]
            self._publishers[device.device_id].publish(readings)
            self.readings_sent += len(readings)
            if self._on_published is not None:
                self._on_published(readings)
        self.rounds += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for publisher in self._publishers.values():
            publisher.stop()
        log.info("fleet stopped after %d rounds, %d readings", self.rounds, self.readings_sent)

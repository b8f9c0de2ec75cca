"""A fleet of virtual devices stepping through simulated time and handing readings to a sink.

Each device samples its virtual driver (`edge.drivers.VirtualDriver`, reading the signal model)
on its own period, staggered so the fleet does not report all at once, and its readings are
delivered by the sink: over MQTT through an edge agent per device (packing, disk queue, link),
or into the store.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence

from citysense.settings import BrokerSettings
from citysense.wire import Reading
from edge.drivers import VirtualDriver
from simulators.city import SimDevice
from simulators.clock import VirtualClock
from simulators.signals import SignalModel
from simulators.sinks import MqttSink, Sink

__all__ = ["Fleet"]

log = logging.getLogger(__name__)


class Fleet:
    """`interval_s` makes every device report every interval; None keeps each kind's own period.

    A `BrokerSettings` for `sink` means an `MqttSink` with its device queues in a temporary folder.
    """

    def __init__(
        self,
        devices: Sequence[SimDevice],
        model: SignalModel,
        sink: Sink | BrokerSettings,
        *,
        interval_s: float | None = None,
        on_published: Callable[[list[Reading]], None] | None = None,
        clock: VirtualClock | None = None,
    ) -> None:
        if interval_s is not None and interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if not devices:
            raise ValueError("a fleet needs at least one device")
        self.devices = list(devices)
        self.model = model
        self.sink: Sink = MqttSink(sink) if isinstance(sink, BrokerSettings) else sink
        periods = [interval_s or d.period_s for d in self.devices]
        self.interval_s = interval_s or min(periods)
        self.readings_sent = 0
        self.packs_sent = 0
        self.rounds = 0
        self.clock = clock or VirtualClock(model.start_time, 1.0)
        self._on_published = on_published
        self._tick_time = model.start_time
        # Device i reports every `every` ticks, starting at tick `phase` (staggered within its period).
        self._schedule: list[tuple[SimDevice, int, int, VirtualDriver]] = []
        for i, (device, period) in enumerate(zip(self.devices, periods, strict=True)):
            every = max(1, round(period / self.interval_s))
            self._schedule.append((device, every, i % every, self._driver(device)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = False

    def _driver(self, device: SimDevice) -> VirtualDriver:
        return VirtualDriver(device.quantities, lambda now: self.model.sample(device, now), lambda: self._tick_time)

    def connect(self) -> None:
        """Open the sink (over MQTT: every device's agent and session, each logging in as itself)."""
        if not self._connected:
            self.sink.open(self.devices)
            self._connected = True

    def start(self) -> None:
        """Connect and publish on the clock (real time unless the clock is faster) until stopped."""
        self.connect()
        self._thread = threading.Thread(target=self.run, name="fleet", daemon=True)
        self._thread.start()
        log.info("fleet of %d devices reporting, tick %.1fs", len(self.devices), self.interval_s)

    def run_rounds(self, rounds: int) -> None:
        """Run `rounds` ticks without waiting between them (tests, backfills)."""
        self.connect()
        for _ in range(rounds):
            self._round(self.model.start_time + self.rounds * self.interval_s)

    def run(
        self,
        until_s: float | None = None,
        *,
        progress: Callable[[float], None] | None = None,
        sync_every: int | None = None,
    ) -> None:
        """Tick on the clock until `until_s` simulated seconds have passed (or `stop()`).

        `progress` gets the simulated seconds done after every tick; `sync_every` ticks, the sink
        is asked to confirm delivery, which bounds what an accelerated run keeps in flight.
        """
        self.connect()
        last = math.inf if until_s is None else until_s
        if sync_every is None:
            sync_every = max(1, round(60 / self.interval_s)) if self.clock.accelerated else 1_000_000
        while True:
            offset = self.rounds * self.interval_s
            if offset >= last or not self.clock.wait_until(self.model.start_time + offset, self._stop):
                break
            self._round(self.model.start_time + offset)
            if self.rounds % sync_every == 0:
                self.sink.sync()
            if progress is not None:
                progress(min(offset + self.interval_s, last))

    def _round(self, due: float) -> None:
        self._tick_time = due
        tick = self.rounds
        model = self.model
        for device, every, phase, driver in self._schedule:
            if (tick - phase) % every:
                continue
            values = driver.read()
            if not values:
                continue  # a silent device: nothing to publish
            time_ms = round(model.device_time(device, due) * 1000)
            readings = [Reading(device.device_id, q, v, time_ms) for q, v in values.items()]
            self.sink.send(device, readings)
            self.readings_sent += len(readings)
            self.packs_sent += 1
            if self._on_published is not None:
                self._on_published(readings)
        self.rounds += 1

    def request_stop(self) -> None:
        """Ask a running `run()` to return after the current tick (safe from any thread)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop ticking, deliver what is queued and close the sink (over MQTT: offline statuses)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._connected:
            self.sink.close()
            self._connected = False
        log.info("fleet stopped after %d ticks, %d readings", self.rounds, self.readings_sent)

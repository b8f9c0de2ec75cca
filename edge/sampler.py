"""Samples every sensor on its own schedule and turns N samples into one report per quantity.

A report is the aggregate (median by default: robust to the odd spike of a cheap sensor) of
`samples` readings taken `interval_s` apart, timestamped when the last sample was taken. Driver
failures are counted and logged, never fatal: a sensor that answers again is used again.
Reports go to `emit`, which puts them on the disk queue before anything is published.

The store knows a reading by (device_id, quantity, time_ms) and writes the same identity once, so
two reports of one quantity stamped in the same millisecond would silently become one. Hence a
sampler that fell behind (a slow queue write, a busy CPU) skips the slots it missed instead of
sampling twice in a row, and a report is never stamped with its quantity's previous time.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from citysense import wire
from edge.config import Aggregate, SensorConfig
from edge.drivers.base import Driver, DriverError

__all__ = ["Sampler", "aggregate"]

log = logging.getLogger(__name__)

# A report stamped at most this far behind its quantity's previous one is moved just past it (same
# millisecond, or a clock slewed back a little); further back, the clock was set back and the
# stamp is kept, so readings are not stamped ahead of the time they were taken for long.
_CLOCK_STEP_MS = 1000


def aggregate(values: Sequence[float], how: Aggregate) -> float:
    if not values:
        raise ValueError("nothing to aggregate")
    if how == "median":
        return float(statistics.median(values))
    if how == "mean":
        return math.fsum(values) / len(values)
    if how == "sum":
        return math.fsum(values)
    if how == "max":
        return max(values)
    return values[-1]


class _Schedule:
    def __init__(self, config: SensorConfig, driver: Driver) -> None:
        self.config = config
        self.driver = driver
        self.due = time.monotonic()
        self.buffer: dict[str, list[float]] = defaultdict(list)
        self.taken = 0


class Sampler:
    def __init__(
        self,
        device_id: str,
        sensors: Sequence[SensorConfig],
        drivers: dict[str, Driver],
        emit: Callable[[list[wire.Reading]], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.device_id = device_id
        self._emit = emit
        self._clock = clock
        self._schedules = {s.name: _Schedule(s, drivers[s.name]) for s in sensors}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: Counter[str] = Counter()
        self.reports = 0
        self.samples = 0
        self.last_error: str | None = None
        # The time of the last report of each quantity (only the sampler thread touches it).
        self._last_ms: dict[str, int] = {}

    def start(self) -> None:
        if not self._schedules:
            return  # no sensors: the agent is fed through `Agent.submit` (a simulated device)
        self._thread = threading.Thread(target=self._run, name="edge-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        """Sampling works: the thread runs, or there is nothing to sample."""
        return not self._schedules or (self._thread is not None and self._thread.is_alive())

    def reconfigure(self, sensors: Sequence[SensorConfig]) -> None:
        """Apply new intervals, sample counts and aggregates live; samples already taken are kept."""
        with self._lock:
            for config in sensors:
                schedule = self._schedules.get(config.name)
                if schedule is not None:
                    schedule.config = config
                    schedule.due = min(schedule.due, time.monotonic() + config.interval_s)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                due = [s for s in self._schedules.values() if s.due <= now]
                for schedule in due:
                    interval = schedule.config.interval_s
                    schedule.due += interval
                    if schedule.due <= now:
                        # Behind by an interval or more: skip the missed slots. Due "now" would
                        # be due again straight after this sample, two reports in one millisecond.
                        schedule.due = now + interval
            for schedule in due:
                self._sample(schedule)
            with self._lock:
                wait = min(s.due for s in self._schedules.values()) - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()

    def _sample(self, schedule: _Schedule) -> None:
        name = schedule.config.name
        try:
            values = schedule.driver.read()
        except (DriverError, OSError, ValueError) as exc:
            self.errors[name] += 1
            self.last_error = f"{name}: {exc}"
            if self.errors[name] in (1, 10, 100) or self.errors[name] % 1000 == 0:
                log.warning("sensor %s failed (%d times so far): %s", name, self.errors[name], exc)
            return
        self.samples += 1
        for quantity, value in values.items():
            if quantity in wire.QUANTITIES and math.isfinite(value):
                schedule.buffer[quantity].append(float(value))
        schedule.taken += 1
        if schedule.taken < schedule.config.samples:
            return
        at_ms = int(self._clock() * 1000)
        readings = [
            wire.Reading(
                self.device_id,
                quantity,
                round(aggregate(values, schedule.config.aggregate), 4),
                self._stamp(quantity, at_ms),
            )
            for quantity, values in schedule.buffer.items()
            if values
        ]
        schedule.buffer.clear()
        schedule.taken = 0
        if readings:
            try:
                self._emit(readings)
                self.reports += 1
            except Exception:  # a full disk must not kill sampling: log, count, try again next report
                self.errors["queue"] += 1
                log.exception("could not queue a report of %s", name)

    def _stamp(self, quantity: str, at_ms: int) -> int:
        """`at_ms`, or just past the quantity's previous report if that one has it (or a moment later).

        A reading's identity in the store includes its time: a report with the same time as the
        previous one of its quantity (two sensors of one quantity sampled together, a catch-up
        after a stall) would be taken for a redelivery of it and dropped.
        """
        last = self._last_ms.get(quantity)
        if last is not None and last - _CLOCK_STEP_MS < at_ms <= last:
            at_ms = last + 1
        self._last_ms[quantity] = at_ms
        return at_ms

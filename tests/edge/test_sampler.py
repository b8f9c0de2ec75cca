"""The sampler's schedule and report times: distinct reports must keep distinct identities in the store.

The store keeps one reading per (device_id, quantity, time_ms), so two reports stamped in the same
millisecond lose one of them silently (ingest counts it as a duplicate).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pydantic import TypeAdapter

from citysense import wire
from edge.config import SensorConfig
from edge.drivers.virtual import VirtualDriver, wave
from edge.sampler import Sampler
from tests.support.mqtt import wait_until

_SENSOR = TypeAdapter(SensorConfig)
_NOW_S = 1_700_000_000.0


def level_sensor(name: str = "level", *, interval_s: float = 0.1) -> SensorConfig:
    return _SENSOR.validate_python(
        {"name": name, "driver": "virtual", "quantity": "water_level", "interval_s": interval_s, "samples": 1}
    )


class Reports:
    """What the sampler emitted: each report's readings and when `emit` was entered (monotonic)."""

    def __init__(self, *, stall_on: int | None = None, stall_s: float = 0.0) -> None:
        self.entered: list[float] = []
        self.readings: list[wire.Reading] = []
        self._stall_on = stall_on
        self._stall_s = stall_s
        self._lock = threading.Lock()

    def emit(self, readings: list[wire.Reading]) -> None:
        with self._lock:
            self.entered.append(time.monotonic())
            self.readings.extend(readings)
            stall = len(self.entered) == self._stall_on
        if stall:
            time.sleep(self._stall_s)  # a queue write held up by a slow disk or a busy CPU

    def __len__(self) -> int:
        with self._lock:
            return len(self.entered)


@pytest.fixture
def run_sampler() -> Iterator[Callable[..., Sampler]]:
    started: list[Sampler] = []

    def run(sensors: list[SensorConfig], reports: Reports, clock: Callable[[], float] = time.time) -> Sampler:
        drivers = {s.name: VirtualDriver(("water_level",), wave("water_level", base=1.2)) for s in sensors}
        sampler = Sampler("river-01", sensors, drivers, reports.emit, clock=clock)
        started.append(sampler)
        sampler.start()
        return sampler

    yield run
    for sampler in started:
        sampler.stop()


def test_a_stalled_report_is_not_followed_by_a_second_one_at_once(run_sampler):
    """Behind by more than an interval, the sampler used to be due again at once: two reports in a row."""
    reports = Reports(stall_on=3, stall_s=0.35)
    sampler = run_sampler([level_sensor(interval_s=0.1)], reports)
    wait_until(lambda: len(reports) >= 6, 10, "six reports")
    sampler.stop()

    # The report due during the stall comes at once after it; the next one an interval later, not
    # straight after it (a back-to-back pair is microseconds apart however loaded the machine).
    assert reports.entered[4] - reports.entered[3] >= 0.05, "the sampler caught up with two reports in a row"
    stamps = [r.time_ms for r in reports.readings]
    assert len(set(stamps)) == len(stamps)


def test_reports_of_one_quantity_never_share_a_millisecond(run_sampler):
    """Two sensors of one quantity, sampled together, by a clock that does not move: all kept apart."""
    reports = Reports()
    sampler = run_sampler(
        [level_sensor("upstream", interval_s=0.05), level_sensor("downstream", interval_s=0.05)],
        reports,
        clock=lambda: _NOW_S,
    )
    wait_until(lambda: len(reports) >= 6, 10, "six reports")
    sampler.stop()

    stamps = [r.time_ms for r in reports.readings]
    base = int(_NOW_S * 1000)
    assert stamps == list(range(base, base + len(stamps)))


def test_a_clock_set_back_is_believed(run_sampler):
    """Only a collision is moved: after the clock is set back an hour, reports carry the new time."""
    times = iter([_NOW_S, _NOW_S, _NOW_S - 3600, _NOW_S - 3600])
    last = [_NOW_S - 3600]

    def clock() -> float:
        last[0] = next(times, last[0])
        return last[0]

    reports = Reports()
    sampler = run_sampler([level_sensor(interval_s=0.05)], reports, clock=clock)
    wait_until(lambda: len(reports) >= 4, 10, "four reports")
    sampler.stop()

    base, back = int(_NOW_S * 1000), int((_NOW_S - 3600) * 1000)
    assert [r.time_ms for r in reports.readings[:4]] == [base, base + 1, back, back + 1]

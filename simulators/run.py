"""One simulation run from start to summary: what `citysense simulate` does.

Real time (speed 1) starts now and runs until `until` or Ctrl-C. An accelerated run needs
`until` and, unless told where to start, ends now (it backfills the recent past), so that no
reading lies in the future and ingest accepts them all. The same seed, start and options give
the same readings and the same truth file, byte for byte.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from citysense.settings import SimulateSettings
from simulators.city import City
from simulators.clock import VirtualClock
from simulators.fleet import Fleet
from simulators.scenario import Scenario
from simulators.signals import SignalModel
from simulators.sinks import MqttSink, Sink, StoreSink
from simulators.truth import TruthRecord, write_truth

__all__ = ["RunOptions", "Summary", "plan_start", "run_simulation"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    city: City
    scenario: Scenario
    seed: int = 42
    devices: int | None = None
    speed: float = 1.0
    until_s: float | None = None
    start: float | None = None
    interval_s: float | None = None
    to: Literal["mqtt", "store"] = "mqtt"
    truth: Path | None = None
    register: bool = True


@dataclass(frozen=True, slots=True)
class Summary:
    devices: int
    readings: int
    packs: int
    simulated_s: float
    wall_s: float
    truth: list[TruthRecord]
    truth_path: Path | None

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def incidents(self) -> int:
        return sum(r.category == "incident" for r in self.truth)

    @property
    def faults(self) -> int:
        return sum(r.category == "fault" for r in self.truth)


def plan_start(options: RunOptions, tick_s: float, now: float | None = None) -> float:
    """Where simulated time starts: as asked, else now (real time) or `until` before now (accelerated)."""
    if options.start is not None:
        return options.start
    now = time.time() if now is None else now
    if options.speed > 1:
        if options.until_s is None:
            raise ValueError("an accelerated run (--speed above 1) needs --until, or --start and --until")
        now -= options.until_s
    return math.floor(now / tick_s) * tick_s


def run_simulation(
    options: RunOptions,
    settings: SimulateSettings,
    *,
    sink: Sink | None = None,
    progress: Callable[[float], None] | None = None,
    stop: threading.Event | None = None,
) -> Summary:
    """Run the fleet to the end (or until `stop` is set) and say what was sent."""
    devices = list(options.city.select(options.devices))
    tick = options.interval_s or min(d.period_s for d in devices)
    start = plan_start(options, tick)
    model = SignalModel(
        options.scenario, options.seed, start, city=options.city, devices=devices, horizon_s=options.until_s
    )
    if options.truth is not None:
        write_truth(options.truth, model.truth())  # written first: a run cut short still says what it planned
    if sink is None:
        sink = MqttSink.for_settings(settings) if options.to == "mqtt" else StoreSink(settings.timeseries_url)
    if options.register:
        from simulators.service import register

        register(settings.tickets_url, devices)
    fleet = Fleet(devices, model, sink, interval_s=options.interval_s, clock=VirtualClock(start, options.speed))
    if stop is not None:

        def relay() -> None:
            stop.wait()
            fleet.request_stop()

        threading.Thread(target=relay, name="simulate-stop", daemon=True).start()
    began = time.monotonic()
    try:
        fleet.run(options.until_s, progress=progress)
    finally:
        fleet.stop()
    wall = time.monotonic() - began
    truth = model.truth()  # now with the incidents the world had (true values over a rule's limit)
    if options.truth is not None:
        write_truth(options.truth, truth)
    log.info("%d readings from %d devices in %.1fs (%.0f/s)", fleet.readings_sent, len(devices), wall,
             fleet.readings_sent / wall if wall else 0)  # fmt: skip
    return Summary(
        devices=len(devices),
        readings=fleet.readings_sent,
        packs=fleet.packs_sent,
        simulated_s=fleet.rounds * fleet.interval_s,
        wall_s=wall,
        truth=truth,
        truth_path=options.truth,
    )

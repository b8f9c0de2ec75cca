"""Small helpers for the simulator tests: run a simulation into memory and slice what came out."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from citysense.settings import SimulateSettings
from citysense.wire import Reading
from simulators.city import default_city
from simulators.run import RunOptions, Summary, run_simulation
from simulators.scenario import Scenario
from simulators.sinks import CollectSink

# Monday 5 January 2026, local midnight in the default city (UTC+7).
MONDAY = datetime.fromisoformat("2026-01-05T00:00:00+07:00").timestamp()


def run_in_memory(
    scenario: Scenario, *, until_s: float, seed: int = 42, devices: int | None = None, start: float = MONDAY
) -> tuple[list[Reading], Summary]:
    sink = CollectSink()
    options = RunOptions(
        city=default_city(),
        scenario=scenario,
        seed=seed,
        devices=devices,
        speed=float("inf"),
        until_s=until_s,
        start=start,
        register=False,
    )
    summary = run_simulation(options, SimulateSettings(), sink=sink)
    return sink.readings, summary


def series(readings: list[Reading]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(device, quantity) -> [(time_ms, value)] in time order."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for r in readings:
        out[(r.device_id, r.quantity)].append((r.time_ms, r.value))
    return out


def local_hour(time_ms: int) -> float:
    return (time_ms / 3_600_000 + 7) % 24

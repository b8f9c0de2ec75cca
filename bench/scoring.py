"""Scoring throughput: readings per second through every detector and rule, in one process.

Two simulated days of the default city (every device, the `incidents` scenario, so rules, forecasts
and device-health checks all have work) is generated first and kept in memory; then the engine
scores and learns from every reading, as `citysense analytics` does for each MQTT message. The
ticket policy is not in the timed loop (it only sees findings, a few per thousand readings).
One JSON row per run goes to bench/results/scoring.jsonl.

    python bench/scoring.py --days 2 --repeat 3
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

RESULTS = Path(__file__).resolve().parent / "results" / "scoring.jsonl"


def main(
    days: Annotated[float, typer.Option(min=0.1, help="simulated days of the whole city to score")] = 2.0,
    repeat: Annotated[int, typer.Option(min=1, help="timed passes (a fresh engine each); the median is reported")] = 3,
    scenario: Annotated[str, typer.Option(help="simulator scenario (name or YAML file)")] = "incidents",
) -> None:
    """Measure how many readings per second one process scores through all detectors."""
    from rich.console import Console

    from analytics.engine import DeviceMeta, Engine, EngineConfig
    from analytics.evaluate import SCENARIOS_DIR
    from citysense.settings import AnalyticsSettings, SimulateSettings
    from simulators.city import load_city
    from simulators.run import RunOptions, run_simulation
    from simulators.scenario import load_scenario
    from simulators.sinks import CollectSink

    console = Console(stderr=True)
    city = load_city(None)
    path = SCENARIOS_DIR / f"{scenario}.yaml"
    sink = CollectSink()
    options = RunOptions(
        city=city,
        scenario=load_scenario(str(path) if path.is_file() else scenario),
        speed=math.inf,
        until_s=days * 86_400,
        start=datetime.fromisoformat("2026-01-05T00:00:00+07:00").timestamp(),
        to="store",
        register=False,
    )
    console.print(f"simulating {days:g} days of {len(city.devices)} devices ...")
    run_simulation(options, SimulateSettings(), sink=sink)
    readings = sink.readings
    by_id = {d.device_id: d for d in city.devices}
    settings = AnalyticsSettings()

    def meta(device_id: str) -> DeviceMeta:
        device = by_id[device_id]
        return DeviceMeta(device_id, device.district, device.kind)

    rates, findings = [], 0
    for n in range(repeat):
        engine = Engine(EngineConfig.from_settings(settings), meta)
        process = engine.process
        began = time.perf_counter()
        findings = sum(len(process(r, received_ms=r.time_ms)) for r in readings)
        elapsed = time.perf_counter() - began
        rates.append(len(readings) / elapsed)
        console.print(f"pass {n + 1}: {len(readings):,} readings in {elapsed:.1f} s = {rates[-1]:,.0f} readings/s")
    # The general anomaly detector alone: one per series, every reading, as the engine feeds it.
    from analytics.anomaly import make_detector

    detectors: dict[tuple[str, str], Any] = {}
    options = EngineConfig.from_settings(settings).detector_options()
    began = time.perf_counter()
    for r in readings:
        det = detectors.get((r.device_id, r.quantity))
        if det is None:
            det = detectors[(r.device_id, r.quantity)] = make_detector(**options)
        det.update(r.time_ms / 1000, r.value)
    detector_us = (time.perf_counter() - began) / len(readings) * 1e6
    console.print(f"anomaly detector alone: {detector_us:.1f} us per update over {len(detectors)} series")
    row = {
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "readings": len(readings),
        "days": days,
        "devices": len(city.devices),
        "scenario": scenario,
        "findings": findings,
        "readings_per_s_median": round(statistics.median(rates)),
        "readings_per_s_all": [round(r) for r in rates],
        "anomaly_detector_us_per_update": round(detector_us, 2),
        "series": len(detectors),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(row) + "\n")
    typer.echo(json.dumps(row))


if __name__ == "__main__":
    typer.run(main)

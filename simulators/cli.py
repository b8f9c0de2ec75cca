"""`citysense simulate`: the simulated city, live over MQTT or backfilled into the store."""

from __future__ import annotations

import math
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

__all__ = ["simulate"]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _parse_start(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--start {text!r} is neither epoch seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError("--start needs a time zone, e.g. 2026-01-05T00:00:00Z")
    return moment.timestamp()


def _span(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.2f} days"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def simulate(
    scenario: Annotated[
        str,
        typer.Option(help="scenario name (demo, random, week) or a YAML file; 'random' draws incidents from --seed"),
    ] = "demo",
    devices: Annotated[
        int | None,
        typer.Option(min=1, help="simulate N devices, taken evenly across districts and kinds (default: all)"),
    ] = None,
    speed: Annotated[
        str, typer.Option(help="simulated seconds per wall second: 1 = real time, 600, or 'max' (as fast as possible)")
    ] = "1",
    seed: Annotated[int, typer.Option(help="random seed: same seed, same data, byte for byte")] = 42,
    until: Annotated[
        str | None, typer.Option(help="simulated time to run: seconds or 90m, 12h, 7d (default: until Ctrl-C)")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="write the ground truth (incidents, faults) here as JSON lines")
    ] = None,
    to: Annotated[
        str,
        typer.Option(
            help="mqtt: each device an edge agent publishing to CITYSENSE_BROKER__URL, its disk queue in"
            " CITYSENSE_DATA_DIR/sim-queues; store: write into CITYSENSE_TIMESERIES_URL"
        ),
    ] = "mqtt",
    city: Annotated[Path | None, typer.Option(help="city YAML file (default: the shipped six-district city)")] = None,
    interval: Annotated[
        float | None, typer.Option(min=0.1, help="every device reports every N seconds (default: each kind's period)")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="simulated start, ISO 8601 or epoch seconds (default: now; accelerated runs end now)"),
    ] = None,
    register: Annotated[
        bool, typer.Option(help="register the devices in CITYSENSE_TICKETS_URL so the API knows their districts")
    ] = True,
) -> None:
    """Run the simulated city: each device an edge agent publishing over MQTT, or a backfill of the store.

    Real time by default. With --speed above 1 (or 'max') and --until, the run is accelerated and,
    unless --start says otherwise, covers the recent past up to now. Ctrl-C stops cleanly with a summary.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from citysense.errors import CitysenseError
    from citysense.runtime import setup_logging
    from citysense.settings import SimulateSettings
    from simulators.city import load_city
    from simulators.clock import parse_duration, parse_speed
    from simulators.run import RunOptions, Summary, run_simulation
    from simulators.scenario import load_scenario

    if to not in ("mqtt", "store"):
        raise _fail(f"--to is 'mqtt' or 'store', not {to!r}")
    target: Literal["mqtt", "store"] = "mqtt" if to == "mqtt" else "store"
    try:
        settings = SimulateSettings() if interval is None else SimulateSettings(interval_s=interval)
        setup_logging(settings.log_level)
        options = RunOptions(
            city=load_city(city),
            scenario=load_scenario(scenario),
            seed=seed,
            devices=devices,
            speed=parse_speed(speed),
            until_s=None if until is None else parse_duration(until),
            start=None if start is None else _parse_start(start),
            interval_s=interval,
            to=target,
            truth=truth,
            register=register,
        )
        stop = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        console = Console(stderr=True)
        try:
            if options.speed > 1 and options.until_s is not None:
                columns = (
                    TextColumn("simulating"),
                    BarColumn(),
                    TextColumn("{task.fields[simulated]}"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                )
                with Progress(*columns, console=console, transient=True) as bar:
                    task = bar.add_task("run", total=options.until_s, simulated="")

                    def advance(done_s: float) -> None:
                        bar.update(task, completed=done_s, simulated=f"{done_s / 3600:.1f} h")

                    summary: Summary = run_simulation(options, settings, progress=advance, stop=stop)
            else:
                if options.speed == 1:
                    console.print(f"real time, {'until Ctrl-C' if until is None else f'for {until}'} ...")
                summary = run_simulation(options, settings, stop=stop)
        finally:
            signal.signal(signal.SIGINT, previous)
    except (CitysenseError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    rate = "" if math.isclose(summary.wall_s, 0) else f" ({summary.readings_per_s:,.0f} readings/s)"
    typer.echo(
        f"sent {summary.readings} readings in {summary.packs} packs from {summary.devices} devices to {to}: "
        f"{_span(summary.simulated_s)} simulated in {summary.wall_s:.1f} s{rate}"
    )
    typer.echo(
        f"ground truth: {summary.incidents} incidents, {summary.faults} device faults"
        + (f", written to {summary.truth_path}" if summary.truth_path else " (use --truth FILE to keep it)")
    )

"""`citysense demo`: the whole city in one process on the embedded defaults.

An in-process MQTT broker, the simulated fleet, ingest, analytics and the API, with all data
in one folder (SQLite files), so a restart keeps what was collected.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from citysense.broker import EmbeddedBroker
from citysense.runtime import check_port_free, run_until_signal
from citysense.settings import (
    AnalyticsSettings,
    ApiSettings,
    BrokerSettings,
    IngestSettings,
    SimulateSettings,
)

__all__ = ["run_demo"]

DEMO_DEVICES = 96


def run_demo(
    *,
    data_dir: Path,
    host: str,
    port: int,
    mqtt_port: int,
    interval_s: float,
    scenario: str,
    seed: int,
    quiet_period_s: float,
) -> None:
    from analytics.service import AnalyticsService
    from api.server import ApiServer
    from ingest.service import IngestService
    from simulators.scenario import load_scenario
    from simulators.service import SimulatorService

    check_port_free(host, port, "the API")
    check_port_free("127.0.0.1", mqtt_port, "the embedded MQTT broker")
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker("127.0.0.1", mqtt_port)
    common: dict[str, Any] = {"data_dir": data_dir, "broker": BrokerSettings(url=broker.url)}
    # The embedded broker has no shared subscriptions; one ingest worker takes the whole stream.
    ingest = IngestService(IngestSettings(**common, shared_subscription=False))
    analytics = AnalyticsService(AnalyticsSettings(**common, quiet_period_s=quiet_period_s))
    # 96 devices, every kind in every district: as many sessions as the embedded broker takes comfortably.
    simulator = SimulatorService(
        SimulateSettings(**common, interval_s=interval_s), load_scenario(scenario), devices=DEMO_DEVICES, seed=seed
    )
    api = ApiServer(ApiSettings(**common, host=host, port=port))

    url = f"http://{host}:{port}"
    console = Console()
    districts = len({d.district for d in simulator.devices})
    console.print(
        Panel.fit(
            f"[bold]citysense demo[/bold]: {len(simulator.devices)} sensors in {districts} districts, "
            f"reporting every {interval_s:g}s\n"
            f"scenario [bold]{scenario}[/bold]: incidents start within the first minute\n\n"
            f"status page        {url}/\n"
            f"public status      {url}/public/v1/status\n"
            f"tickets            {url}/public/v1/tickets  (each ticket's page: {url}/tickets/ID)\n"
            f"report a problem   {url}/report\n"
            f"warnings (Atom)    {url}/public/v1/alerts.atom\n"
            f"operators' console {url}/console  (an account: citysense users add NAME --role operator)\n"
            f"operator API docs  {url}/docs\n"
            f"MQTT broker        {broker.url}  (dead letters on cs/v1/deadletter)\n"
            f"data               {data_dir.resolve()}\n\n"
            "Ctrl-C stops everything; running it again keeps the data.",
            title="the city is running",
        )
    )
    # uvicorn re-raises the Ctrl-C it handled; everything has been stopped on the way out.
    with contextlib.suppress(KeyboardInterrupt):
        run_until_signal([broker, ingest, analytics, simulator], foreground=api.serve_forever)
    console.print("citysense demo stopped; data kept in", str(data_dir))

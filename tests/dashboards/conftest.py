"""One simulated hour of the city in a real InfluxDB, and its tickets in a real PostgreSQL.

The fleet is the shipped default city; the scenario puts a pollution episode early in the hour
(its ticket resolves), a flood in its last third (its ticket is still open) and one river gauge
that falls silent for the last 35 minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.rules import default_rules, evaluate
from analytics.tickets import TicketPolicy
from citysense.db import connect
from citysense.settings import AnalyticsSettings, SimulateSettings
from citysense.timeseries import DeviceTags, open_store
from dashboards.interpolate import TimeRange
from simulators.city import load_city
from simulators.run import RunOptions, run_simulation
from simulators.scenario import load_scenario
from simulators.service import register
from simulators.sinks import CollectSink
from tests.dashboards.support import Servers
from tests.support.influxdb import influxdb
from tests.support.servers import postgres_database

HOUR_S = 3600
SILENT_DEVICE = "taman-sari-water-02"
SCENARIO = f"""
name: dashboards
incidents:
  - {{kind: pollution, district: industri-timur, cause: industrial, start_s: 300, duration_s: 900,
      ramp_s: 60, peak: 160}}
  - {{kind: flood, district: sungai-barat, start_s: 2400, duration_s: 7200, ramp_s: 300, lag_s: 0, peak: 3.4}}
faults:
  - {{kind: silence, device: {SILENT_DEVICE}, start_s: 1500, duration_s: 7200}}
"""


@pytest.fixture(scope="session")
def city_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Servers, TimeRange]]:
    workdir = tmp_path_factory.mktemp("dashboards")
    scenario_file = workdir / "scenario.yaml"
    scenario_file.write_text(SCENARIO)
    city = load_city()
    sink = CollectSink()
    run_simulation(
        RunOptions(city=city, scenario=load_scenario(str(scenario_file)), seed=8, speed=math.inf, until_s=HOUR_S,
                   register=False),
        SimulateSettings(),
        sink=sink,
    )  # fmt: skip
    readings = sorted(sink.readings, key=lambda r: r.time_ms)
    tags = {d.device_id: DeviceTags(d.district, d.kind, d.lat, d.lon) for d in city.devices}
    with influxdb(Path(workdir) / "influxdb") as server, postgres_database() as tickets_url:
        store = open_store(server.url())
        try:
            store.write(readings, devices=tags)
        finally:
            store.close()
        register(tickets_url, list(city.devices))
        policy = TicketPolicy(connect(tickets_url), quiet_period_s=600)
        rules = default_rules(AnalyticsSettings())
        for reading in readings:
            breach = evaluate(rules, reading)
            if breach is not None:
                policy.observe(breach)
        policy.resolve_quiet(datetime.fromtimestamp(readings[-1].time_ms / 1000, UTC))
        now_ms = int(time.time() * 1000)
        servers = Servers(server.http, "citysense", tickets_url.replace("postgresql+psycopg://", "postgresql://"))
        yield servers, TimeRange(now_ms - 2 * HOUR_S * 1000, now_ms, interval="1m")

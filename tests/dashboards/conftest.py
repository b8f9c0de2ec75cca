"""One simulated hour of the city in a real InfluxDB, and its tickets in a real PostgreSQL.

The fleet is the shipped default city; the scenario puts a pollution episode early in the hour
(its ticket resolves), a flood in its last third (its ticket is still open) and one river gauge
that falls silent for the last 35 minutes.

Tickets are written as rows of the tickets schema (what Grafana reads), one per incident found
in the simulated readings with analytics' thresholds and quiet period, rather than through the
analytics service, whose rule and policy interfaces are being reworked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citysense.db import Ticket, TicketEvent, TicketStatus, connect
from citysense.settings import AnalyticsSettings, SimulateSettings
from citysense.timeseries import DeviceTags, HealthPoint, open_store
from citysense.wire import Reading
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
def simulated_hour(tmp_path_factory: pytest.TempPathFactory) -> list[Reading]:
    """The hour's readings, oldest first; it ends when the fixture runs."""
    scenario_file = tmp_path_factory.mktemp("scenario") / "scenario.yaml"
    scenario_file.write_text(SCENARIO)
    sink = CollectSink()
    run_simulation(
        RunOptions(city=load_city(), scenario=load_scenario(str(scenario_file)), seed=8, speed=math.inf,
                   until_s=HOUR_S, register=False),
        SimulateSettings(),
        sink=sink,
    )  # fmt: skip
    return sorted(sink.readings, key=lambda r: r.time_ms)


@pytest.fixture(scope="session")
def city_servers(
    tmp_path_factory: pytest.TempPathFactory, simulated_hour: list[Reading]
) -> Iterator[tuple[Servers, TimeRange]]:
    workdir = tmp_path_factory.mktemp("dashboards")
    city = load_city()
    readings = simulated_hour
    tags = {d.device_id: DeviceTags(d.district, d.kind, d.lat, d.lon) for d in city.devices}
    with influxdb(Path(workdir) / "influxdb") as server, postgres_database() as tickets_url:
        store = open_store(server.url())
        try:
            store.write(readings, devices=tags)
            store.write_health(health_points(readings[0].time_ms, readings[-1].time_ms, tags))
        finally:
            store.close()
        register(tickets_url, list(city.devices))
        write_tickets(tickets_url, readings, {d.device_id: d.district for d in city.devices})
        now_ms = int(time.time() * 1000)
        servers = Servers(server.http, "citysense", tickets_url.replace("postgresql+psycopg://", "postgresql://"))
        yield servers, TimeRange(now_ms - 2 * HOUR_S * 1000, now_ms, interval="1m")


MINUTE_MS = 60_000
SILENCE_START_S = 1500
DEEP_QUEUE = 120.0  # packs the silent gauge's node holds at the end of the hour


def health_points(start_ms: int, end_ms: int, tags: dict[str, DeviceTags]) -> list[HealthPoint]:
    """What ingest would have stored from the fleet's status messages (a point per node and metric a
    minute) and its own health (every 10 s): every queue empty but the silent gauge's, which grows
    from when it went silent; batteries draining slowly; a rejected pack every 5 minutes."""
    points: list[HealthPoint] = []
    for t in range(start_ms, end_ms, MINUTE_MS):
        minute = (t - start_ms) // MINUTE_MS
        for device, tag in tags.items():
            silent_for = (t - start_ms) / 1000 - SILENCE_START_S
            depth = (
                DEEP_QUEUE * silent_for / (HOUR_S - SILENCE_START_S)
                if device == SILENT_DEVICE and silent_for > 0
                else 0
            )
            points.append(HealthPoint("device", device, "queue_depth", round(depth), t, tag))
            points.append(HealthPoint("device", device, "battery_pct", 90.0 - 0.1 * minute, t, tag))
    for t in range(start_ms, end_ms, 10_000):
        rejected = 1.0 if (t - start_ms) % (5 * MINUTE_MS) == 0 else 0.0
        points += [
            HealthPoint("ingest", "citysense-ingest", "rejected", rejected, t),
            HealthPoint("ingest", "citysense-ingest", "rejected.not_json", rejected, t),
            HealthPoint("ingest", "citysense-ingest", "lag_p50_s", 0.4, t),
            HealthPoint("ingest", "citysense-ingest", "lag_max_s", 1.5, t),
        ]
    return points


QUIET_S = 600.0


def _at(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, UTC)


def write_tickets(tickets_url: str, readings: Sequence[Reading], districts: dict[str, str]) -> None:
    """One ticket per (service, district) whose readings crossed analytics' threshold; resolved after
    `QUIET_S` without a breach, as analytics' ticket policy does."""
    settings = AnalyticsSettings()
    rules = (
        ("water_level", "flood", "Flood risk", settings.water_level_flood_m),
        ("pm25", "air_quality", "Unhealthy air", settings.pm25_unhealthy_ugm3),
    )
    end_ms = readings[-1].time_ms
    sessions = connect(tickets_url)
    with sessions.begin() as session:
        for quantity, code, title, limit in rules:
            incidents: dict[str, list[Reading]] = {}
            for r in readings:
                if r.quantity == quantity and r.value >= limit:
                    incidents.setdefault(districts[r.device_id], []).append(r)
            for district, breaches in sorted(incidents.items()):
                first, last = breaches[0], breaches[-1]
                resolved = last.time_ms + QUIET_S * 1000 <= end_ms
                ticket = Ticket(
                    dedupe_key=f"{code}:{district}",
                    service_code=code,
                    title=f"{title} in {district}",
                    district=district,
                    severity="high",
                    status=TicketStatus.RESOLVED if resolved else TicketStatus.OPEN,
                    quantity=quantity,
                    threshold=limit,
                    peak_value=max(r.value for r in breaches),
                    devices=sorted({r.device_id for r in breaches}),
                    opened_at=_at(first.time_ms),
                    updated_at=_at(last.time_ms),
                    last_breach_at=_at(last.time_ms),
                    resolved_at=_at(int(last.time_ms + QUIET_S * 1000)) if resolved else None,
                )
                ticket.events.append(TicketEvent(at=_at(first.time_ms), kind="opened", message="opened", data={}))
                session.add(ticket)

"""Health points (nodes' queue depth and battery, ingest's rejects and lag) on every adapter, each
against its real server: stored apart from readings, so nothing that reads every series sees them."""

from __future__ import annotations

import time
import uuid

import httpx

from citysense.timeseries import DeviceTags, HealthPoint, open_store
from citysense.timeseries.influx import InfluxLocation
from citysense.wire import Reading

NOW_MS = int(time.time() * 1000)
T0 = (NOW_MS - 86_400_000) // 60_000 * 60_000
MINUTE = 60_000


def device_point(value: float, offset_ms: int = 0, device: str = "gauge-1", metric: str = "queue_depth") -> HealthPoint:
    return HealthPoint("device", device, metric, value, T0 + offset_ms, DeviceTags("kota lama", "river"))


def test_health_points_read_back_per_source_and_metric_in_time_order(adapter):
    points = [
        device_point(3.0, MINUTE),
        device_point(7.0, 0),
        device_point(80.0, 0, metric="battery_pct"),
        device_point(1.0, 0, device="gauge-2"),
        HealthPoint("ingest", "ingest-a", "rejected.bad_unit", 4.0, T0),
    ]
    assert adapter.write_health(points) == 5
    found = adapter.read_health(scope="device", metric="queue_depth", start_ms=T0, end_ms=T0 + 2 * MINUTE)
    assert [(p.source, p.value, p.time_ms) for p in found] == [
        ("gauge-1", 7.0, T0),
        ("gauge-1", 3.0, T0 + MINUTE),
        ("gauge-2", 1.0, T0),
    ]
    one = adapter.read_health(
        scope="device", metric="queue_depth", start_ms=T0, end_ms=T0 + MINUTE, source="gauge-1"
    )  # half-open: the point at T0 + MINUTE is outside
    assert [p.value for p in one] == [7.0]
    rejects = adapter.read_health(scope="ingest", metric="rejected.bad_unit", start_ms=T0, end_ms=T0 + MINUTE)
    assert [(p.scope, p.source, p.value) for p in rejects] == [("ingest", "ingest-a", 4.0)]
    assert adapter.read_health(scope="ingest", metric="queue_depth", start_ms=T0, end_ms=T0 + MINUTE) == []


def test_a_health_point_written_twice_is_stored_once(adapter):
    adapter.write_health([device_point(7.0)])
    adapter.write_health([device_point(7.0)])  # a status message redelivered
    found = adapter.read_health(scope="device", metric="queue_depth", start_ms=T0, end_ms=T0 + MINUTE)
    assert [p.value for p in found] == [7.0]


def test_health_points_are_invisible_to_everything_that_reads_readings(adapter):
    adapter.write([Reading("gauge-1", "water_level", 1.5, T0)])
    adapter.write_health([device_point(7.0), HealthPoint("ingest", "ingest-a", "lag_max_s", 0.4, T0)])
    assert adapter.count() == 1
    assert adapter.latest() == [Reading("gauge-1", "water_level", 1.5, T0)]
    assert adapter.latest(quantity="queue_depth") == []
    frame = adapter.read_range(device_id="gauge-1", quantity="queue_depth", start_ms=T0, end_ms=T0 + MINUTE)
    assert frame.empty


def test_old_health_points_go_with_the_retention(adapter):
    hour = 3_600_000
    adapter.expire(2 * 3600, now_ms=NOW_MS)
    adapter.write_health(
        [
            HealthPoint("device", "gauge-1", "battery_pct", 50.0, NOW_MS - 3 * hour),
            HealthPoint("device", "gauge-1", "battery_pct", 40.0, NOW_MS - hour),
        ]
    )
    adapter.expire(2 * 3600, now_ms=NOW_MS)
    found = adapter.read_health(scope="device", metric="battery_pct", start_ms=NOW_MS - 4 * hour, end_ms=NOW_MS)
    assert [p.value for p in found] == [40.0]


def test_influxdb_keeps_health_in_its_own_measurements_keyed_by_source_and_metric(influx_server):
    url = influx_server.url(f"t{uuid.uuid4().hex[:12]}")
    store = open_store(url)
    try:
        store.write_health([device_point(7.0), HealthPoint("ingest", "ingest-a", "lag_p50_s", 0.2, T0)])
        # The registry changes: the device's district is a field, so the series stays the same.
        store.write_health(
            [HealthPoint("device", "gauge-1", "queue_depth", 8.0, T0 + 1000, DeviceTags("pasar", "river"))]
        )
    finally:
        store.close()
    database = InfluxLocation.from_url(url).database

    def query(q: str) -> list[list[object]]:
        answer = httpx.post(f"{influx_server.http}/query", data={"db": database, "q": q}).json()
        return [row for series in answer["results"][0].get("series", []) for row in series["values"]]

    assert sorted(query("SHOW SERIES")) == [
        ["fleet_health,device=gauge-1,metric=queue_depth"],
        ["ingest,metric=lag_p50_s,worker=ingest-a"],
    ]
    rows = query('SELECT "district", "kind", "value" FROM "fleet_health" WHERE "district" =~ /^pasar$/')
    assert [row[1:] for row in rows] == [["pasar", "river", 8.0]]

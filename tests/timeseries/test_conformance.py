"""One conformance suite for every time-series adapter, each against its real server.

SQLite is a file; InfluxDB is Debian's InfluxDB 1.6 started on free loopback ports (it has no
`/api/v2/write`, so this also runs the adapter's v1 `/write` fallback). VictoriaMetrics answers
`/api/v2/write` but not InfluxQL, so it tests the v2 write path only (see the end of the file).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from citysense.errors import StoreError
from citysense.timeseries import DeviceTags, TimeSeriesStore, open_store
from citysense.timeseries.influx import InfluxLocation
from citysense.wire import Reading
from tests.support.influxdb import VictoriaMetrics, influxdb, victoria_metrics

NOW_MS = int(time.time() * 1000)
T0 = (NOW_MS - 86_400_000) // 60_000 * 60_000  # yesterday, on a whole minute: buckets start at T0
MINUTE = 60_000
TAGS = {"river-1": DeviceTags("sungai-barat", "river", -6.2, 106.8), "air-1": DeviceTags("kota lama", "air")}


def r(value: float, offset_ms: int = 0, device: str = "river-1", quantity: str = "water_level") -> Reading:
    return Reading(device, quantity, value, T0 + offset_ms)


def values(store: TimeSeriesStore, device: str = "river-1", quantity: str = "water_level") -> list[float]:
    frame = store.read_range(device_id=device, quantity=quantity, start_ms=T0 - MINUTE, end_ms=T0 + 60 * MINUTE)
    return list(frame["value"])


def test_a_written_batch_reads_back_in_time_order_per_series(adapter):
    batch = [r(2.0, 2000), r(1.0, 0), r(1.5, 1000), r(40.0, 0, device="air-1", quantity="pm25")]
    assert adapter.write(batch, devices=TAGS) == 4
    assert adapter.count() == 4
    frame = adapter.read_range(device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + MINUTE)
    assert list(frame["value"]) == [1.0, 1.5, 2.0]
    assert list(frame.index) == [pd.Timestamp(T0 + k * 1000, unit="ms", tz="UTC") for k in range(3)]
    assert values(adapter, "air-1", "pm25") == [40.0]


def test_the_same_reading_written_twice_is_stored_once(adapter):
    batch = [r(1.0, 0), r(2.0, 1000), r(3.0, 0, device="river-2")]
    adapter.write(batch, devices=TAGS)
    adapter.write(batch, devices=TAGS)  # a redelivered MQTT message
    adapter.write(batch[:1], devices=TAGS)
    assert adapter.count() == 3
    assert values(adapter) == [1.0, 2.0]


# What the registry may say about river-1 over time: a refresh, a move to another district and
# position, a new kind after a repair, and nothing at all (a device ingest could not look up).
REGISTRY_STATES = [
    TAGS,
    {"river-1": DeviceTags("sungai-barat", "river", -6.2, 106.8)},
    {"river-1": DeviceTags("kota lama", "water", -6.25, 106.9)},
    {"river-1": DeviceTags("kota lama", "water")},
    {},
]


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_a_reading_written_through_every_registry_state_is_stored_once(adapter, order):
    batch = [r(1.0, 0), r(2.0, 1000), r(40.0, 0, device="air-1", quantity="pm25")]
    states = REGISTRY_STATES if order == "forward" else REGISTRY_STATES[::-1]
    for devices in states:
        adapter.write(batch, devices=devices)  # redelivered after a registry change
    assert adapter.count() == 3
    assert values(adapter) == [1.0, 2.0]
    assert [(x.device_id, x.quantity, x.value) for x in sorted(adapter.latest())] == [
        ("air-1", "pm25", 40.0),
        ("river-1", "water_level", 2.0),
    ]


def test_influxdb_series_are_keyed_by_device_and_quantity_alone(influx_server):
    url = influx_server.url(f"t{uuid.uuid4().hex[:12]}")
    store = open_store(url)
    try:
        for devices in REGISTRY_STATES:
            store.write([r(1.0, 0), r(2.0, 1000)], devices=devices)
    finally:
        store.close()
    database = InfluxLocation.from_url(url).database

    def query(q: str) -> list[list[object]]:
        answer = httpx.post(f"{influx_server.http}/query", data={"db": database, "q": q}).json()
        return [row for series in answer["results"][0].get("series", []) for row in series["values"]]

    assert query("SHOW SERIES") == [["readings,device=river-1,quantity=water_level"]]
    assert query('SELECT count("value") FROM "readings"')[0][1] == 2
    # The last registry state that described the device is what the point carries, as fields.
    rows = query('SELECT "district", "kind", "value" FROM "readings" WHERE "district" =~ /^kota lama$/')
    assert [row[1:] for row in rows] == [["kota lama", "water", 1.0], ["kota lama", "water", 2.0]]


def test_a_range_is_half_open_and_keeps_series_apart(adapter):
    adapter.write([r(float(k), k * 1000) for k in range(10)] + [r(99.0, 5000, quantity="rainfall")])
    frame = adapter.read_range(device_id="river-1", quantity="water_level", start_ms=T0 + 2000, end_ms=T0 + 5000)
    assert list(frame["value"]) == [2.0, 3.0, 4.0]
    empty = adapter.read_range(device_id="river-9", quantity="water_level", start_ms=T0, end_ms=T0 + MINUTE)
    assert empty.empty
    assert list(empty.columns) == ["value"]


def test_buckets_aggregate_and_skip_empty_ones(adapter):
    # Minute 0: 1, 2, 3; minute 1: nothing; minute 2: 10.
    adapter.write([r(1.0, 0), r(2.0, 20_000), r(3.0, 40_000), r(10.0, 2 * MINUTE + 5000)])
    frame = adapter.read_range(
        device_id="river-1", quantity="water_level", start_ms=T0, end_ms=T0 + 3 * MINUTE, bucket_s=60
    )
    assert list(frame.index) == [
        pd.Timestamp(T0, unit="ms", tz="UTC"),
        pd.Timestamp(T0 + 2 * MINUTE, unit="ms", tz="UTC"),
    ]
    assert list(frame["mean"]) == [2.0, 10.0]
    assert list(frame["min"]) == [1.0, 10.0]
    assert list(frame["max"]) == [3.0, 10.0]
    assert list(frame["count"]) == [3, 1]


def test_latest_is_the_newest_reading_of_each_series(adapter):
    adapter.write([r(1.0, 0), r(5.0, 5000), r(40.0, 0, device="air-1", quantity="pm25")], devices=TAGS)
    adapter.write([r(3.0, 3000)], devices=TAGS)  # older than what is there: latest stays
    latest = {(x.device_id, x.quantity): x for x in adapter.latest()}
    assert latest == {
        ("river-1", "water_level"): r(5.0, 5000),
        ("air-1", "pm25"): Reading("air-1", "pm25", 40.0, T0),
    }
    assert adapter.latest(quantity="pm25") == [Reading("air-1", "pm25", 40.0, T0)]
    assert adapter.latest(quantity="noise") == []


def test_latest_is_the_newest_even_when_a_batch_arrives_out_of_order(adapter):
    # A Pi flushing its queue after an outage sends old readings after new ones in the same batch.
    adapter.write([r(9.0, 9000), r(1.0, 1000), r(4.0, 4000)], devices=TAGS)
    assert adapter.latest(quantity="water_level") == [r(9.0, 9000)]


def test_readings_older_than_the_retention_are_removed(adapter):
    hour = 3_600_000
    adapter.expire(2 * 3600, now_ms=NOW_MS)  # InfluxDB: sets the policy; SQLite: nothing yet to remove
    old = Reading("river-1", "water_level", 1.0, NOW_MS - 3 * hour)
    recent = Reading("river-1", "water_level", 2.0, NOW_MS - hour)
    adapter.write([old, recent])
    adapter.expire(2 * 3600, now_ms=NOW_MS)
    frame = adapter.read_range(device_id="river-1", quantity="water_level", start_ms=NOW_MS - 4 * hour, end_ms=NOW_MS)
    assert list(frame["value"]) == [2.0]
    assert adapter.count() == 1


def test_a_reading_the_server_cannot_take_is_refused_for_good(adapter):
    with pytest.raises(StoreError) as refused:
        adapter.write([r(math.nan, 0)])
    assert refused.value.retryable is False
    adapter.write([r(1.0, 0)])  # the store is still usable
    assert adapter.count() == 1


def test_a_large_batch_is_stored_whole(adapter):
    batch = [r(float(k % 97), k) for k in range(20_000)]
    assert adapter.write(batch) == 20_000
    assert adapter.count() == 20_000


# --------------------------------------------------------------------------- InfluxDB specifics


def test_an_unreachable_influxdb_is_a_retryable_error_and_writes_resume(tmp_path):
    with influxdb(tmp_path / "influx") as server:
        store = open_store(server.url())
        try:
            store.write([r(1.0, 0)])
            server.stop()
            with pytest.raises(StoreError) as down:
                store.write([r(2.0, 1000)])
            assert down.value.retryable is True
            server.start()
            store.write([r(2.0, 1000)])
            assert values(store) == [1.0, 2.0]
        finally:
            store.close()


def test_influxdb_urls_carry_credentials_tokens_and_tls():
    v1 = InfluxLocation.from_url("influxdb://ops:s%40cret@db.city:8087/citysense")
    assert (v1.base_url, v1.database, v1.username, v1.password, v1.v2_token) == (
        "http://db.city:8087",
        "citysense",
        "ops",
        "s@cret",
        "ops:s@cret",
    )
    v2 = InfluxLocation.from_url("influxdbs://influx.city/readings?token=abc&org=city")
    assert (v2.base_url, v2.token, v2.org, v2.v2_token) == ("https://influx.city:8086", "abc", "city", "abc")
    for bad in ("influxdb://host:8086/", "influxdb://host/a/b", "influxdb://host/db?bucket=x", "http://host/db"):
        with pytest.raises(ValueError, match="InfluxDB"):
            InfluxLocation.from_url(bad)


# --------------------------------------------------------------------------- the v2 write path


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    with victoria_metrics(tmp_path / "vm") as server:
        yield server


def test_the_v2_write_api_stores_enriched_readings_once(victoria):
    store = open_store(victoria.url())
    try:
        batch = [r(1.0, 0), r(2.0, 1000), r(40.0, 0, device="air-1", quantity="pm25")]
        assert store.write(batch, devices=TAGS) == 3
        store.write(batch, devices=TAGS)
    finally:
        store.close()
    assert victoria.requests_to("/influx/write") == 2  # its one counter for every line-protocol endpoint
    exported = victoria.export()
    series = {(s["metric"]["__name__"], s["metric"]["device"], s["metric"]["quantity"]): s for s in exported}  # type: ignore[index]
    river = series[("readings_value", "river-1", "water_level")]
    # No `db` label: VictoriaMetrics adds one to what arrives through v1 `/write?db=`, not through v2.
    # The registry's description is fields, not labels: the series stays the same when it changes.
    assert river["metric"] == {"__name__": "readings_value", "device": "river-1", "quantity": "water_level"}
    assert (river["values"], river["timestamps"]) == ([1.0, 2.0], [T0, T0 + 1000])
    assert series[("readings_lat", "river-1", "water_level")]["values"] == [-6.2, -6.2]
    assert {tuple(sorted(s["metric"])) for s in exported} == {("__name__", "device", "quantity")}  # type: ignore[index]

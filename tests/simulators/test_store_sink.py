"""A backfill with `--to store` carries the registry's district and kind, as ingest does, for the dashboards."""

from __future__ import annotations

import time

import httpx

from citysense.wire import Reading
from simulators.city import build_fleet
from simulators.sinks import StoreSink
from tests.support.influxdb import influxdb


def test_store_sink_writes_district_and_kind_into_influxdb(tmp_path):
    devices = [d for d in build_fleet() if d.kind in ("air", "water")][:6]
    now_ms = int(time.time() * 1000)
    with influxdb(tmp_path / "influx") as server:
        sink = StoreSink(server.url())
        sink.open(devices)
        for device in devices:
            sink.send(device, [Reading(device.device_id, q, 1.0, now_ms) for q in device.quantities])
        sink.close()
        answer = httpx.get(
            f"{server.http}/query",
            params={"db": "citysense", "q": 'SELECT last("district"), last("kind") FROM "readings" GROUP BY "device"'},
        ).json()
    stored = {series["tags"]["device"]: tuple(series["values"][0][1:]) for series in answer["results"][0]["series"]}
    assert stored == {d.device_id: (d.district, d.kind) for d in devices}

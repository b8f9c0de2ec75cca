"""Reading routes page before they build: each page reads only its own rows, on SQLite and InfluxDB.

The store is the real one (a SQLite file, or InfluxDB 1.6 on a loopback port), wrapped to count
the rows it hands to the API and, for InfluxDB, the bytes the server sent. Before the fix the
export read every bucket of every sensor for each page, and the raw readings route read every
reading before refusing; both counts then grow with the city, not with the page.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import ApiSettings
from citysense.timeseries import TimeSeriesStore, open_store
from citysense.timeseries.base import Bucket
from citysense.wire import Reading

MINUTE = 60_000
DEVICES = [f"kota-lama-air-{i:02d}" for i in range(1, 9)]
HOURS = 12
END_MS = int(time.time() * 1000) // 3_600_000 * 3_600_000  # on a whole hour: hourly buckets are full
START_MS = END_MS - HOURS * 60 * MINUTE


class CountingStore:
    """The real store, counting what each read hands back (and InfluxDB's response bytes)."""

    def __init__(self, store: TimeSeriesStore) -> None:
        self.store = store
        self.rows = 0
        self.bytes = 0
        http = getattr(store, "_http", None)
        if http is not None:
            post = http.post

            def counted(*args: Any, **kwargs: Any) -> httpx.Response:
                response = post(*args, **kwargs)
                self.bytes += len(response.content)
                return response

            http.post = counted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def reset(self) -> None:
        self.rows = self.bytes = 0

    def read_range(self, **kwargs: Any) -> Any:
        frame = self.store.read_range(**kwargs)
        self.rows += len(frame)
        return frame

    def read_buckets(self, **kwargs: Any) -> list[Bucket]:
        rows = self.store.read_buckets(**kwargs)
        self.rows += len(rows)
        return rows


@pytest.fixture
def seeded(settings: ApiSettings, store_url: str) -> ApiSettings:
    """Eight air sensors, a reading a minute for 12 hours, plus one river gauge of another quantity."""
    settings = settings.model_copy(update={"timeseries_url": store_url})
    from citysense.db import connect

    sessions = connect(settings.tickets_url)
    register_devices(sessions, [DeviceInfo(d, "kota-lama", "air") for d in DEVICES])
    register_devices(sessions, [DeviceInfo("river-1", "sungai-barat", "river")])
    store = open_store(store_url)
    try:
        store.write(
            [
                Reading(d, "pm25", 10.0 + i % 7, t)
                for i, d in enumerate(DEVICES)
                for t in range(START_MS, END_MS, MINUTE)
            ]
        )
        store.write([Reading("river-1", "water_level", 1.0, t) for t in range(START_MS, END_MS, 1000)])
    finally:
        store.close()
    return settings


@pytest.fixture
def counted(seeded: ApiSettings, auth: dict[str, str]) -> Iterator[tuple[TestClient, CountingStore]]:
    with TestClient(create_app(seeded), headers=auth) as client:
        counting = CountingStore(client.app.state.store)  # type: ignore[attr-defined]
        client.app.state.store = counting  # type: ignore[attr-defined]
        yield client, counting


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_export_page_reads_only_its_own_buckets_first_to_last(counted):
    client, store = counted
    limit = 500
    url: str | None = "/public/v1/export/readings.csv?" + str(
        httpx.QueryParams(quantity="pm25", start=_iso(START_MS), end=_iso(END_MS), bucket=60, limit=limit)
    )
    pages: list[list[dict[str, str]]] = []
    read_per_page: list[int] = []
    bytes_per_page: list[int] = []
    while url is not None:
        store.reset()
        response = client.get(url)
        assert response.status_code == 200, response.text
        pages.append(_rows(response.text))
        read_per_page.append(store.rows)
        bytes_per_page.append(store.bytes)
        link = response.headers.get("link")
        url = link.split(";")[0].strip("<>") if link else None
    slots = len(DEVICES) * HOURS * 60
    assert len(pages) == slots // limit + (slots % limit > 0)
    assert max(read_per_page) <= limit  # the whole export would be 5760 buckets
    assert read_per_page[0] == read_per_page[-2] == limit  # the first page costs what a late one costs
    every = [(row["device_id"], row["time"]) for page in pages for row in page]
    assert len(every) == len(set(every)) == slots  # every bucket of every sensor, once
    assert {row["device_id"] for page in pages for row in page} == set(DEVICES)  # no other quantity's gauge
    if max(bytes_per_page):  # InfluxDB: what the server sent for one page, not for the city
        assert max(bytes_per_page) < limit * 200


def test_raw_readings_are_paged_in_the_store_and_buckets_capped(counted):
    client, store = counted
    params = {"device_id": "river-1", "quantity": "water_level", "start": _iso(START_MS), "end": _iso(END_MS)}
    store.reset()
    first = client.get("/api/v1/readings", params={**params, "limit": 1000})
    assert first.status_code == 200, first.text
    assert len(first.json()["data"]) == 1000
    assert store.rows <= 1001  # 43 200 readings in range; one more than the page tells there is a next
    second = client.get(first.headers["link"].split(";")[0].strip("<>"))
    assert second.json()["data"][0]["time"] == first.json()["next"]
    assert second.json()["data"][0]["time"] > first.json()["data"][-1]["time"]

    store.reset()
    month = {**params, "start": _iso(END_MS - 31 * 86_400_000), "bucket": 1}
    refused = client.get("/api/v1/readings", params=month)
    assert refused.status_code == 422
    assert "max 10100" in refused.json()["detail"]
    assert "wider bucket" in refused.json()["detail"]
    assert store.rows == 0  # refused before reading anything


def _read_buckets_everywhere(store: TimeSeriesStore, devices: Sequence[str]) -> list[Bucket]:
    return store.read_buckets(device_ids=devices, quantity="pm25", start_ms=START_MS, end_ms=END_MS, bucket_s=3600)


def test_store_reads_buckets_of_several_devices_in_device_then_time_order(seeded: ApiSettings):
    store = open_store(seeded.timeseries_url)
    try:
        rows = _read_buckets_everywhere(store, DEVICES[:3])
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)
        assert len(rows) == 3 * HOURS
        assert all(r[5] == 60 for r in rows)
        assert rows[0][1] == START_MS // 3_600_000 * 3_600_000
        limited = store.read_range(
            device_id="river-1", quantity="water_level", start_ms=START_MS, end_ms=END_MS, limit=10
        )
        assert len(limited) == 10
        assert limited.index[0].value // 1_000_000 == START_MS
    finally:
        store.close()

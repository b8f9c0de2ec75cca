"""An anonymous export of the whole city's week, and an operator's month of seconds, against the real process.

The process's peak resident memory (VmHWM) is read from the kernel before and after: the work of
a page, the last one included, must not grow with the city or the range.
"""

from __future__ import annotations

import csv
import io
import time

from citysense.db.devices import DeviceInfo, register_devices
from citysense.timeseries import open_store
from citysense.wire import Reading
from simulators.city import build_fleet
from tests.abuse.conftest import TOKEN, Api

DAY_MS = 86_400_000
STEP_MS = 300_000  # a reading every 5 minutes: one in five 60 s buckets filled


def _seed_week(api: Api) -> tuple[int, int, int]:
    """The simulated fleet; every air sensor a week of PM2.5; returns (sensors, start_ms, end_ms)."""
    fleet = [d for d in build_fleet() if "pm25" in d.quantities]
    register_devices(api.sessions, [DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in fleet])
    end_ms = int(time.time() * 1000) // 60_000 * 60_000
    start_ms = end_ms - 7 * DAY_MS
    store = open_store(api.timeseries_url)
    try:
        for device in fleet:
            store.write([Reading(device.device_id, "pm25", 20.0, t) for t in range(start_ms, end_ms, STEP_MS)])
    finally:
        store.close()
    return len(fleet), start_ms, end_ms


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def test_the_week_long_city_export_pages_first_to_last_within_memory(api: Api):
    sensors, start_ms, end_ms = _seed_week(api)
    params = {"quantity": "pm25", "start": _iso(start_ms), "end": _iso(end_ms), "bucket": 60, "limit": 10_000}
    with api.client() as client:
        first = client.get("/public/v1/export/readings.csv", params=params)
        assert first.status_code == 200, first.text
        slots = int(first.headers["x-total-count"])
        assert slots == sensors * 7 * 24 * 60
        before = api.peak_rss_bytes()
        last_offset = (slots - 1) // 10_000 * 10_000
        pages = {}
        for offset in (0, slots // 2 // 10_000 * 10_000, last_offset):
            page = client.get("/public/v1/export/readings.csv", params={**params, "offset": offset})
            assert page.status_code == 200
            pages[offset] = list(csv.DictReader(io.StringIO(page.text)))
        grown = api.peak_rss_bytes() - before
    assert grown < 100 * 1024 * 1024
    # 10 000 slots a page, one in five with a reading; the last page holds the rest.
    assert [abs(len(pages[o]) - 2000) <= 2 for o in sorted(pages)[:2]] == [True, True]
    assert 0 < len(pages[last_offset]) <= 2000
    assert "link" not in page.headers  # the last page says so


def test_a_month_of_one_second_buckets_is_refused_without_reading(api: Api):
    with api.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        before = api.peak_rss_bytes()
        refused = client.get(
            "/api/v1/readings",
            params={
                "device_id": "kota-lama-air-01",
                "quantity": "pm25",
                "start": _iso(int(time.time() * 1000) - 30 * DAY_MS),
                "bucket": 1,
            },
        )
        assert refused.status_code == 422
        assert "ask for a wider bucket" in refused.json()["detail"]
        assert api.peak_rss_bytes() - before < 10 * 1024 * 1024

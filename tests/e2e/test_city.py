"""The whole path against a real Mosquitto: simulated fleet -> ingest -> store, analytics -> tickets -> API."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from analytics.service import AnalyticsService
from api.app import create_app
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import AnalyticsSettings, ApiSettings, IngestSettings
from citysense.timeseries import open_store
from citysense.wire import Reading
from ingest.service import IngestService
from simulators.city import build_fleet
from simulators.fleet import Fleet
from simulators.scenario import Incident, Scenario
from simulators.signals import SignalModel
from tests.support.mqtt import wait_until

ROUNDS = 40
INTERVAL_S = 5.0


def test_injected_flood_becomes_one_ticket_and_every_reading_is_stored_exactly_once(broker, tmp_path):
    common = {"data_dir": tmp_path, "broker": broker.settings}
    devices = build_fleet()
    assert len(devices) >= 50
    assert len({d.district for d in devices}) >= 5
    register_devices(
        connect(ApiSettings(**common).tickets_url),
        [DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in devices],
    )
    # The scenario's clock starts in the past so that ROUNDS rounds end now (readings may not be in the future).
    start = time.time() - ROUNDS * INTERVAL_S
    scenario = Scenario(
        name="flood-only",
        incidents=[Incident(kind="flood", district="sungai-barat", start_s=30, duration_s=120, peak=3.4)],
    )
    published: list[Reading] = []
    lock = threading.Lock()

    def record(readings: list[Reading]) -> None:
        with lock:
            published.extend(readings)

    ingest = IngestService(IngestSettings(**common, shared_subscription=True))
    analytics = AnalyticsService(AnalyticsSettings(**common))
    ingest.start()
    analytics.start()
    fleet = Fleet(devices, SignalModel(scenario, 7, start), broker.settings, interval_s=INTERVAL_S, on_published=record)
    try:
        fleet.connect()
        fleet.run_rounds(ROUNDS)
        fleet.stop()  # waits for every PUBACK
        assert ingest.store is not None
        wait_until(lambda: ingest.store.count() >= len(published), timeout_s=60, what="all readings stored")
        wait_until(lambda: analytics.readings_seen >= len(published), timeout_s=60, what="analytics saw all")
    finally:
        analytics.stop()
        ingest.stop()

    # The simulated radio drops a reading now and then (short gaps): nearly every round arrives, and
    # whatever was published must be stored exactly once.
    full = ROUNDS * sum(len(d.quantities) for d in devices)
    assert 0.9 * full <= len(published) <= full
    with_store = open_store(IngestSettings(**common).timeseries_url)
    try:
        stored = sorted(
            (r.device_id, r.quantity, r.time_ms, r.value)
            for d in devices
            for q in d.quantities
            for r in _all(with_store, d.device_id, q)
        )
    finally:
        with_store.close()
    expected = sorted((r.device_id, r.quantity, r.time_ms, r.value) for r in published)
    assert stored == expected  # every published reading, exactly once, nothing else

    with TestClient(create_app(ApiSettings(**common))) as client:
        tickets = client.get("/public/v1/tickets", params={"status": "open"}).json()
        status = client.get("/public/v1/status").json()
    assert tickets["count"] == 1, [t["title"] for t in tickets["data"]]
    (ticket,) = tickets["data"]
    assert ticket["service_code"] == "flood"
    assert ticket["district"] == "sungai-barat"
    assert ticket["timeline"][0]["kind"] == "opened"
    by_district = {d["district"]: d for d in status["districts"]}
    assert len(by_district) == 6
    assert by_district["sungai-barat"]["open_tickets"] == 1
    assert all("pm25" in d["quantities"] and "water_level" in d["quantities"] for d in by_district.values())


def _all(store, device_id: str, quantity: str) -> list[Reading]:
    frame = store.read_range(device_id=device_id, quantity=quantity, start_ms=0, end_ms=2**62)
    return [
        Reading(device_id, quantity, float(v), int(t.timestamp() * 1000))
        for t, v in zip(frame.index, frame["value"], strict=True)
    ]

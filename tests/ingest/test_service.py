"""`citysense ingest` as a service: enrichment from the registry, retention, Prometheus metrics."""

from __future__ import annotations

import time

import httpx

from citysense import wire
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import IngestSettings
from citysense.timeseries import DeviceTags
from ingest.service import IngestService
from tests.ingest.helpers import stream
from tests.support.mqtt import listening, publish, wait_until
from tests.support.servers import free_port


def test_readings_are_enriched_with_the_registry_and_counted_on_metrics(broker, tmp_path):
    settings = IngestSettings(data_dir=tmp_path, broker=broker.settings, client_id="ingest-m", metrics_port=free_port())
    register_devices(connect(settings.tickets_url), [DeviceInfo("dev-0", "sungai-barat", "river", -6.2, 106.8)])
    service = IngestService(settings)
    service.start()
    try:
        payloads = stream(devices=2, packs=3, pack_size=5)
        for topic, packs in payloads.items():
            publish(broker.settings, topic, packs)
        publish(broker.settings, wire.readings_topic("dev-0"), [b"not json"])
        assert service.worker is not None
        wait_until(lambda: service.worker.counters.acknowledged == 7, what="7 messages acknowledged")
        metrics = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5).text
    finally:
        service.stop()
    lines = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if not line.startswith("#"))
    assert float(lines["citysense_ingest_messages_received_total"]) == 7
    assert float(lines["citysense_ingest_readings_stored_total"]) == 30
    assert float(lines["citysense_ingest_messages_acknowledged_total"]) == 7
    assert float(lines['citysense_ingest_rejected_total{reason="not_json"}']) == 1
    assert float(lines["citysense_ingest_in_flight"]) == 0
    from citysense.timeseries.sqlite import SqliteStore

    store = SqliteStore.from_url(settings.timeseries_url)
    # A registered device is stored with its district, kind and place; an unknown one without.
    assert store.device_tags() == {"dev-0": DeviceTags("sungai-barat", "river", -6.2, 106.8)}
    assert store.count() == 30
    store.close()


def test_retention_removes_old_readings_and_refuses_new_ones_that_old(broker, tmp_path):
    settings = IngestSettings(
        data_dir=tmp_path,
        broker=broker.settings,
        client_id="ingest-r",
        metrics_port=0,
        retention_s=7200,
        retention_check_s=0.2,
    )
    now_ms = int(time.time() * 1000)
    from citysense.timeseries.sqlite import SqliteStore

    early = SqliteStore.from_url(settings.timeseries_url)
    early.write(
        [wire.Reading("dev-0", "pm25", 1.0, now_ms - 3 * 3_600_000), wire.Reading("dev-0", "pm25", 2.0, now_ms)]
    )
    early.close()
    service = IngestService(settings)
    service.start()
    try:
        assert service.store is not None
        wait_until(lambda: service.store.count() == 1, what="the old reading removed")
        too_old = wire.build_pack("dev-1", [wire.Reading("dev-1", "pm25", 3.0, now_ms - 3 * 3_600_000)])
        with listening(broker.settings, wire.DEADLETTER_TOPIC) as dead:
            publish(broker.settings, wire.readings_topic("dev-1"), [too_old])
            dead.wait_for(lambda m: len(m) == 1)
        assert wire.parse_deadletter(dead.messages[0].payload)["reason"] == "time_too_old"
        assert service.store.count() == 1
    finally:
        service.stop()

"""Fleet health as series in the store (real Mosquitto, SQLite and InfluxDB): nodes' queue depth and
battery from their status messages, ingest's rejects and lag; never seen by what reads readings."""

from __future__ import annotations

import time

from analytics.warmup import history
from api.queries import city_status
from citysense import wire
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import IngestSettings
from citysense.timeseries import HealthPoint, TimeSeriesStore, open_store
from citysense.wire import Reading
from ingest.counters import IngestCounters
from ingest.health import HealthReporter
from ingest.service import IngestService
from tests.support.mqtt import publish, wait_until
from tests.support.servers import free_port

HOUR_MS = 3_600_000


def _health(store_url: str, scope: str, metric: str, start_ms: int) -> list[HealthPoint]:
    store = open_store(store_url)
    try:
        return store.read_health(scope=scope, metric=metric, start_ms=start_ms, end_ms=start_ms + 2 * HOUR_MS)  # type: ignore[arg-type]
    finally:
        store.close()


def test_status_messages_become_fleet_health_points_at_most_one_a_minute(broker, tmp_path, store_url):
    settings = IngestSettings(
        data_dir=tmp_path, broker=broker.settings, client_id="ingest-fh", metrics_port=0, timeseries_url=store_url
    )
    sessions = connect(settings.tickets_url)
    register_devices(sessions, [DeviceInfo("gauge-1", "sungai-barat", "river")])
    at = time.time() - 600
    start_ms = int(at * 1000) - HOUR_MS
    service = IngestService(settings)
    service.start()
    try:
        statuses = [
            wire.status_payload(online=True, at=at, agent_version="0.3.1", queue_depth=42, battery_pct=61.5),
            wire.status_payload(online=True, at=at + 30, queue_depth=40, battery_pct=61.0),  # within the minute
            wire.status_payload(online=True, at=at + 61, queue_depth=3),  # a node without a battery reading
        ]
        publish(broker.settings, wire.status_topic("gauge-1"), statuses)
        publish(broker.settings, wire.status_topic("unknown-9"), [wire.status_payload(online=True, queue_depth=9)])
        assert service.status is not None
        wait_until(lambda: service.status.recorded + service.status.skipped >= 4, what="four statuses handled")
    finally:
        service.stop()
    depth = _health(store_url, "device", "queue_depth", start_ms)
    assert [(p.source, p.value, p.time_ms) for p in depth] == [
        ("gauge-1", 42.0, int(at * 1000)),
        ("gauge-1", 3.0, int((at + 61) * 1000)),
    ]
    battery = _health(store_url, "device", "battery_pct", start_ms)
    assert [(p.source, p.value) for p in battery] == [("gauge-1", 61.5)]


def test_rejects_and_lag_become_ingest_series_that_readings_never_show(broker, tmp_path, store_url):
    settings = IngestSettings(
        data_dir=tmp_path,
        broker=broker.settings,
        client_id="ingest-h",
        metrics_port=0,
        timeseries_url=store_url,
        health_every_s=0.2,
    )
    sessions = connect(settings.tickets_url)
    register_devices(sessions, [DeviceInfo("gauge-1", "sungai-barat", "river")])
    now_ms = int(time.time() * 1000)
    service = IngestService(settings)
    service.start()
    try:
        good = wire.build_pack("gauge-1", [Reading("gauge-1", "water_level", 1.25, now_ms - 5000)])
        publish(broker.settings, wire.readings_topic("gauge-1"), [b"not json", b"{also not", good])
        publish(broker.settings, wire.status_topic("gauge-1"), [wire.status_payload(online=True, queue_depth=2)])
        assert service.worker is not None
        assert service.health is not None
        wait_until(lambda: service.worker.counters.acknowledged == 3, what="three messages acknowledged")
        wait_until(lambda: service.health.written >= 6, what="health windows written")
    finally:
        service.stop()
    start_ms = now_ms - HOUR_MS
    rejected = _health(store_url, "ingest", "rejected.not_json", start_ms)
    assert {p.source for p in rejected} == {"ingest-h"}
    assert sum(p.value for p in rejected) == 2
    assert sum(p.value for p in _health(store_url, "ingest", "rejected", start_ms)) == 2
    lag = _health(store_url, "ingest", "lag_max_s", start_ms)
    assert lag
    assert all(p.value >= 5.0 for p in lag)
    assert _health(store_url, "device", "queue_depth", start_ms)

    # What reads every stored series sees the one reading, none of the health series.
    store: TimeSeriesStore = open_store(store_url)
    try:
        assert [(r.device_id, r.quantity) for r in history(store, start_ms=start_ms, end_ms=now_ms + HOUR_MS)] == [
            ("gauge-1", "water_level")
        ]
        assert store.count() == 1
        status = city_status(store, sessions, now_ms=now_ms + 1000).model_dump_json()
    finally:
        store.close()
    assert "water_level" in status
    assert "queue_depth" not in status
    assert "lag_" not in status
    assert "rejected" not in status


def test_a_window_the_store_refused_is_written_with_the_next_one(tmp_path):
    counters = IngestCounters()
    down = open_store(f"influxdb://127.0.0.1:{free_port()}/fleet?timeout_s=1")  # nothing listens there
    up = open_store(f"sqlite:///{tmp_path / 'timeseries.db'}")
    now_ms = int(time.time() * 1000)
    try:
        reporter = HealthReporter(down, counters, worker="ingest-w", every_s=10)
        counters.reject("not_json", 3)
        counters.stored_up_to(now_ms - 5000)
        reporter.sample(now_ms)
        assert reporter.flush(now_ms) == 0
        reporter.store = up
        counters.reject("not_json")
        counters.reject("time_in_future")
        reporter.sample(now_ms + 10_000)
        assert reporter.flush(now_ms + 10_000) == 5  # rejected, two reasons, lag p50 and max
        window = (now_ms - HOUR_MS, now_ms + HOUR_MS)

        def values(metric: str) -> list[float]:
            points = up.read_health(scope="ingest", metric=metric, start_ms=window[0], end_ms=window[1])
            return [p.value for p in points]

        assert values("rejected.not_json") == [4.0]  # the refused window's 3 and the next one's 1
        assert values("rejected") == [5.0]
        assert values("lag_max_s") == [15.0]  # the lag sampled in the lost window is gone, the new one is kept
    finally:
        down.close()
        up.close()

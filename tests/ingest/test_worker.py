"""Ingest against a real Mosquitto and a real SQLite file."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from citysense import wire
from citysense.errors import StoreError
from citysense.settings import IngestSettings
from citysense.timeseries import open_store
from ingest.worker import IngestWorker
from tests.support.mqtt import listening, publish, wait_until


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def settings(broker, tmp_path):
    return IngestSettings(
        data_dir=tmp_path,
        broker=broker.settings,
        client_id=f"ingest-{uuid.uuid4().hex[:6]}",
        batch_wait_s=0.02,
    )


@pytest.fixture
def store(settings):
    store = open_store(settings.timeseries_url)
    yield store
    store.close()


@pytest.fixture
def worker(settings, store):
    worker = IngestWorker(settings, store)
    worker.start()
    yield worker
    worker.stop()


def pack(device: str, n: int, start_ms: int, quantity: str = "pm25") -> bytes:
    return wire.build_pack(device, [wire.Reading(device, quantity, float(i), start_ms + i * 1000) for i in range(n)])


def test_valid_packs_are_stored_once_and_acknowledged(broker, worker, store):
    t = now_ms() - 600_000
    payloads = [pack("air-1", 10, t + k * 10_000) for k in range(20)]
    publish(broker.settings, wire.readings_topic("air-1"), payloads)

    wait_until(lambda: worker.counters.acknowledged == 20, what="20 messages acknowledged")
    assert store.count() == 200
    snapshot = worker.counters.snapshot()
    assert snapshot["stored"] == 200
    assert snapshot["duplicates"] == 0
    assert snapshot["rejected"] == {}


def test_two_workers_on_the_shared_subscription_split_the_stream_and_store_it_once(broker, settings, store):
    second = IngestWorker(settings.model_copy(update={"client_id": settings.client_id + "-b"}), store)
    first = IngestWorker(settings, store)
    first.start()
    second.start()
    try:
        t = now_ms() - 600_000
        devices = [f"air-{k}" for k in range(10)]
        for device in devices:
            publish(broker.settings, wire.readings_topic(device), [pack(device, 5, t + k * 10_000) for k in range(10)])
        workers = (first, second)
        wait_until(lambda: sum(w.counters.acknowledged for w in workers) == 100, what="100 messages acknowledged")
        # The broker gave each worker a share, and no message went to both.
        assert all(w.counters.messages > 0 for w in workers)
        assert sum(w.counters.messages for w in workers) == 100
        assert store.count() == 500
        assert sum(w.counters.duplicates for w in workers) == 0
    finally:
        first.stop()
        second.stop()


def test_republished_readings_are_not_stored_twice(broker, worker, store):
    payload = pack("air-1", 5, now_ms() - 60_000)
    publish(broker.settings, wire.readings_topic("air-1"), [payload, payload, payload])
    wait_until(lambda: worker.counters.acknowledged == 3, what="3 messages acknowledged")
    assert store.count() == 5
    assert worker.counters.duplicates == 10


def test_malformed_payloads_are_dead_lettered_with_reasons_and_valid_traffic_is_unaffected(broker, worker, store):
    t = now_ms() - 60_000
    mixed_record = orjson.dumps(
        [
            {"bn": "urn:dev:cs:air-1:", "bt": t / 1000 + 100, "n": "pm25", "u": "ug/m3", "v": 12.0},
            {"n": "radiation", "u": "Sv", "v": 1.0},
            {"n": "pm10", "u": "ug/m3", "v": 20.0},
        ]
    )
    with listening(broker.settings, wire.DEADLETTER_TOPIC) as dead:
        publish(broker.settings, wire.readings_topic("air-1"), [b"\xff\x00 not json", pack("air-1", 3, t)])
        publish(broker.settings, wire.readings_topic("air-1"), [pack("air-2", 1, t)])  # speaks for another device
        publish(broker.settings, wire.readings_topic("air-1"), [mixed_record])
        publish(broker.settings, wire.readings_topic("air-1"), [b"[" * 70_000])
        dead.wait_for(lambda m: len(m) == 4)

    letters = [wire.parse_deadletter(m.payload) for m in dead.messages]
    assert [d["reason"] for d in letters] == ["not_json", "device_mismatch", "unknown_quantity", "oversized"]
    assert all(d["topic"] == "cs/v1/air-1/readings" for d in letters)
    assert "payload_base64" in letters[0]
    # Three readings from the good pack and two good records of the mixed one.
    wait_until(lambda: store.count() == 5, what="5 valid readings stored")
    assert {r.quantity for r in store.latest()} == {"pm25", "pm10"}
    assert worker.counters.snapshot()["rejected"] == {
        "not_json": 1,
        "device_mismatch": 1,
        "unknown_quantity": 1,
        "oversized": 1,
    }


def test_messages_sent_while_ingest_is_down_arrive_after_restart(broker, settings, store):
    first = IngestWorker(settings, store)
    first.start()  # registers the persistent session and its subscription
    first.stop()

    t = now_ms() - 120_000
    publish(broker.settings, wire.readings_topic("air-1"), [pack("air-1", 4, t + k * 10_000) for k in range(5)])
    assert store.count() == 0

    second = IngestWorker(settings, store)
    second.start()
    try:
        wait_until(lambda: store.count() == 20, what="backlog stored")
    finally:
        second.stop()


class FlakyStore:
    """A real SQLite store whose first writes fail as a locked database would (retryable)."""

    def __init__(self, inner, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def write(self, readings):
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("database is locked", retryable=True)
        return self.inner.write(readings)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_failing_store_is_retried_and_nothing_is_acknowledged_before_it_takes_the_batch(broker, settings, store):
    flaky = FlakyStore(store, failures=3)
    worker = IngestWorker(settings, flaky)
    worker.start()
    try:
        publish(broker.settings, wire.readings_topic("air-1"), [pack("air-1", 10, now_ms() - 60_000)])
        wait_until(lambda: worker.counters.acknowledged == 1, what="message acknowledged")
        assert worker.counters.store_retries == 3
        assert store.count() == 10
    finally:
        worker.stop()

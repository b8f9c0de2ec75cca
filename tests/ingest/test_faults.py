"""Fault tests with real servers. Each ends in: readings in store == readings published, none twice."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from citysense import wire
from citysense.settings import IngestSettings
from citysense.timeseries import open_store
from ingest.worker import IngestWorker
from tests.ingest.helpers import keys_in, stream
from tests.support.influxdb import influxdb
from tests.support.mqtt import listening, publish, wait_until
from tests.support.servers import mosquitto

START_MS = int(time.time() * 1000) - 3_600_000
END_MS = START_MS + 3_600_000
INFLUX_OUTAGE_S = 30.0


def expected_keys(payloads: dict[str, list[bytes]]) -> Counter[tuple[str, int]]:
    keys: Counter[tuple[str, int]] = Counter()
    for topic, packs in payloads.items():
        device = wire.device_from_topic(topic)
        for pack in packs:
            keys.update((device, r.time_ms) for r in wire.parse_pack(pack, device_id=device).readings)
    return keys


def assert_stored_exactly(store, payloads: dict[str, list[bytes]]) -> None:
    expected = expected_keys(payloads)
    stored = Counter(keys_in(store, len(payloads), START_MS, END_MS))
    assert stored == expected, f"lost {sum((expected - stored).values())}, twice {sum((stored - expected).values())}"
    assert store.count() == sum(expected.values())


def publish_all(broker, payloads: dict[str, list[bytes]]) -> None:
    for topic, packs in payloads.items():
        publish(broker, topic, packs)


def publish_in_background(broker, payloads) -> threading.Thread:
    thread = threading.Thread(target=publish_all, args=(broker, payloads), daemon=True)
    thread.start()
    return thread


def ingest_process(broker_url: str, store_url: str, data_dir: Path, client_id: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CITYSENSE_BROKER__URL": broker_url,
        "CITYSENSE_TIMESERIES_URL": store_url,
        "CITYSENSE_DATA_DIR": str(data_dir),
        "CITYSENSE_CLIENT_ID": client_id,
        "CITYSENSE_BATCH_SIZE": "20",
        "CITYSENSE_METRICS_PORT": "0",
    }
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "launcher.cli", "ingest"], env=env, stdout=out, stderr=out)


def test_ingest_killed_with_sigkill_mid_stream_loses_nothing_after_restart(broker, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'ts.db'}"
    client_id = f"ingest-{uuid.uuid4().hex[:6]}"
    store = open_store(store_url)
    payloads = stream(devices=4, packs=100, pack_size=10)  # 4,000 readings in 400 messages
    first = ingest_process(broker.url, store_url, tmp_path, client_id, tmp_path / "ingest1.log")
    try:
        # The session and its subscription exist once a first message comes through.
        probe = {wire.readings_topic("dev-0"): payloads[wire.readings_topic("dev-0")][:1]}

        def stored_probe() -> bool:
            publish_all(broker.settings, probe)  # lost until the subscription exists; stored once after
            return store.count() == 10

        wait_until(stored_probe, what="ingest up")
        publisher = publish_in_background(broker.settings, payloads)
        wait_until(lambda: store.count() > 600, what="ingest mid-stream")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = store.count()
    publisher.join(30)
    second = ingest_process(broker.url, store_url, tmp_path, client_id, tmp_path / "ingest2.log")
    try:
        wait_until(lambda: store.count() == 4000, timeout_s=60, what="every reading stored after restart")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    assert killed_at < 4000
    assert_stored_exactly(store, payloads)
    store.close()


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "plain"])
def test_a_broker_restart_mid_stream_loses_nothing(tmp_path, shared):
    # As root Mosquitto drops to its own user, which cannot write the test's folder: keep root.
    with mosquitto(tmp_path / "broker", persistence=True, extra_config="user root\n") as broker:
        settings = IngestSettings(
            data_dir=tmp_path,
            broker=broker.settings,
            client_id="ingest-r",
            batch_size=20,
            metrics_port=0,
            shared_subscription=shared,
        )
        store = open_store(settings.timeseries_url)
        worker = IngestWorker(settings, store)
        worker.start()
        try:
            before = stream(devices=3, packs=100, pack_size=10)
            publish_all(broker.settings, before)
            broker.stop()  # with messages still queued and in flight to ingest
            broker.start()
            if shared:
                # Mosquitto 2.0 does not restore shared subscriptions from its persistence file: until
                # ingest subscribes again, a new message has no subscriber. Queued ones are kept.
                wait_until(lambda: worker.source.connections == 2, what="ingest reconnected")
            after = stream(devices=3, packs=50, pack_size=10, start_ms=START_MS + 1_000_000)
            publish_all(broker.settings, after)
            try:
                wait_until(lambda: store.count() == 4500, timeout_s=60, what="every reading stored")
            except AssertionError:
                raise AssertionError(f"{store.count()} {worker.counters.snapshot()}") from None
        finally:
            worker.stop()
        merged = {topic: before[topic] + after[topic] for topic in before}
        assert_stored_exactly(store, merged)
        store.close()


def test_influxdb_stopped_for_30s_loses_nothing(broker, tmp_path):
    with influxdb(tmp_path / "influx") as server:
        settings = IngestSettings(
            data_dir=tmp_path,
            broker=broker.settings,
            timeseries_url=server.url(),
            client_id="ingest-i",
            batch_size=20,
            max_in_flight=200,
            metrics_port=0,
        )
        store = open_store(settings.timeseries_url)
        worker = IngestWorker(settings, store)
        worker.start()
        try:
            first = stream(devices=2, packs=50, pack_size=10)
            publish_all(broker.settings, first)
            wait_until(lambda: worker.counters.acknowledged == 100, what="first part stored")
            server.stop()
            second = stream(devices=2, packs=150, pack_size=10, start_ms=START_MS + 1_000_000)
            publish_all(broker.settings, second)  # the broker takes them; ingest cannot store them
            time.sleep(INFLUX_OUTAGE_S)
            unacked = worker.counters.in_flight
            server.start()
            wait_until(lambda: worker.counters.acknowledged == 400, timeout_s=60, what="backlog stored")
        finally:
            worker.stop()
        assert worker.counters.store_retries > 0
        assert 0 < unacked <= settings.max_in_flight  # ingest stopped pulling at its window
        merged = {topic: first[topic] + second[topic] for topic in first}
        assert_stored_exactly(store, merged)
        store.close()


def test_a_flood_of_malformed_and_oversized_payloads_is_dead_lettered_and_valid_traffic_is_unaffected(broker, tmp_path):
    settings = IngestSettings(data_dir=tmp_path, broker=broker.settings, client_id="ingest-f", metrics_port=0)
    store = open_store(settings.timeseries_url)
    worker = IngestWorker(settings, store)
    valid = stream(devices=3, packs=100, pack_size=10)
    t = START_MS
    bad = {
        "not_json": [b"\xff\xfe garbage %d" % i for i in range(100)],
        "oversized": [b"[" + b" " * 70_000 + b"]"] * 20,
        "not_a_pack": [b'{"bn": "urn:dev:cs:dev-0:"}'] * 50,
        "unknown_quantity": [
            wire.build_pack("dev-0", [wire.Reading("dev-0", "pm25", 1.0, t)]).replace(b'"pm25"', b'"radon"')
        ]
        * 50,
        "device_mismatch": [wire.build_pack("dev-9", [wire.Reading("dev-9", "pm25", 1.0, t)])] * 50,
    }
    worker.start()
    try:
        with listening(broker.settings, wire.DEADLETTER_TOPIC) as dead:
            threads = [publish_in_background(broker.settings, valid)]
            for payloads in bad.values():
                threads.append(publish_in_background(broker.settings, {wire.readings_topic("dev-0"): payloads}))
            for thread in threads:
                thread.join(60)
            dead.wait_for(lambda m: len(m) == 270, timeout_s=30)
            wait_until(lambda: store.count() == 3000, what="valid readings stored")
    finally:
        worker.stop()
    reasons = Counter(wire.parse_deadletter(m.payload)["reason"] for m in dead.messages)
    assert reasons == {reason: len(payloads) for reason, payloads in bad.items()}
    assert worker.counters.snapshot()["rejected"] == reasons
    assert_stored_exactly(store, valid)
    store.close()


@pytest.mark.parametrize("pack_size", [1])
def test_messages_beyond_the_window_wait_at_the_broker_not_in_ingest(broker, tmp_path, pack_size):
    """With a store that takes nothing, ingest holds at most max_in_flight messages; the broker keeps the rest."""
    settings = IngestSettings(data_dir=tmp_path, broker=broker.settings, client_id="ingest-w", max_in_flight=50)
    store = open_store(settings.timeseries_url)

    class Stalled:
        def __init__(self) -> None:
            self.open = threading.Event()

        def write(self, readings, **_):
            self.open.wait()
            return store.write(readings)

        def __getattr__(self, name):
            return getattr(store, name)

    stalled = Stalled()
    worker = IngestWorker(settings.model_copy(update={"metrics_port": 0}), stalled)
    worker.start()
    try:
        payloads = stream(devices=1, packs=500, pack_size=pack_size)
        publish_all(broker.settings, payloads)
        time.sleep(1.0)
        assert worker.counters.messages == 50
        stalled.open.set()
        wait_until(lambda: store.count() == 500, what="all stored once the store takes writes again")
    finally:
        worker.stop()
    assert_stored_exactly(store, payloads)
    store.close()


def _move_devices(registry_url: str, round_: int, devices: int) -> None:
    """The registry changes under ingest: every device to another district, kind and position."""
    from citysense.db import connect
    from citysense.db.devices import DeviceInfo, register_devices

    districts = ("kota-lama", "sungai-barat", "taman-sari")
    register_devices(
        connect(registry_url),
        [
            DeviceInfo(f"dev-{d}", districts[(d + round_) % 3], ("air", "water")[round_ % 2], -6.0 - round_, 106.0)
            for d in range(devices)
        ],
    )


@pytest.mark.parametrize("backend", ["sqlite", "influxdb"])
def test_registry_changes_kill_9_and_redelivery_store_each_reading_once(broker, tmp_path, backend):
    """Devices move between districts while readings stream in; ingest is killed with SIGKILL
    mid-stream, the registry changes again, a fresh ingest takes over and every pack is published a
    second time (a device's queue draining again): each reading is still stored exactly once."""
    registry_url = f"sqlite:///{tmp_path / 'citysense.db'}"
    _move_devices(registry_url, 0, 4)
    with contextlib.ExitStack() as servers:
        if backend == "influxdb":
            store_url = servers.enter_context(influxdb(tmp_path / "influx")).url()
        else:
            store_url = f"sqlite:///{tmp_path / 'ts.db'}"
        store = open_store(store_url)
        client_id = f"ingest-{uuid.uuid4().hex[:6]}"
        payloads = stream(devices=4, packs=60, pack_size=10)  # 2,400 readings in 240 messages
        os.environ["CITYSENSE_REGISTRY_REFRESH_S"] = "0.2"
        try:
            first = ingest_process(broker.url, store_url, tmp_path, client_id, tmp_path / "ingest1.log")
        finally:
            del os.environ["CITYSENSE_REGISTRY_REFRESH_S"]
        try:
            probe = {wire.readings_topic("dev-0"): payloads[wire.readings_topic("dev-0")][:1]}

            def stored_probe() -> bool:
                publish_all(broker.settings, probe)
                return store.count() == 10

            wait_until(stored_probe, timeout_s=60, what="ingest up")
            publisher = publish_in_background(broker.settings, payloads)
            for round_ in range(1, 4):
                wait_until(lambda r=round_: store.count() > 300 * r, what=f"stream part {round_}")
                _move_devices(registry_url, round_, 4)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        publisher.join(60)
        _move_devices(registry_url, 4, 4)
        second = ingest_process(broker.url, store_url, tmp_path, client_id, tmp_path / "ingest2.log")
        try:
            wait_until(lambda: store.count() == 2400, timeout_s=90, what="every reading stored after restart")
            _move_devices(registry_url, 5, 4)
            time.sleep(0.5)  # past the registry refresh: the copies below meet yet another registry state
            # Every pack again, then one new pack per device on the same connection: once the new ones
            # are stored, the copies before them have been through the store too.
            fresh = stream(devices=4, packs=1, pack_size=10, start_ms=START_MS + 2_000_000)
            publish_all(broker.settings, {t: payloads[t] + fresh[t] for t in payloads})
            wait_until(lambda: store.count() >= 2440, timeout_s=90, what="the copies and the new packs handled")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        payloads = {t: payloads[t] + fresh[t] for t in payloads}
        assert_stored_exactly(store, payloads)
        store.close()

"""The edge agent against a real Mosquitto: reports, status and last will, remote config, backlog, power cut."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import orjson
import pytest

from citysense import wire
from citysense.settings import IngestSettings
from citysense.timeseries import open_store
from edge.agent import Agent
from edge.queue import DiskQueue
from ingest.worker import IngestWorker
from tests.support.mqtt import listening, publish, wait_until
from tests.support.servers import free_port


class SequenceDriver:
    """A sensor that answers with a fixed series of values, then repeats the last one."""

    quantities = ("water_level",)

    def __init__(self, values: list[float]) -> None:
        self._values = list(values)

    def read(self) -> dict[str, float]:
        value = self._values.pop(0) if len(self._values) > 1 else self._values[0]
        return {"water_level": value}


def readings_of(messages) -> list[wire.Reading]:
    out: list[wire.Reading] = []
    for m in messages:
        if m.topic.endswith("/readings"):
            out.extend(wire.parse_pack(m.payload).readings)
    return out


def node_toml(tmp_path, broker_url: str, *, interval_s: float = 0.05, keepalive_s: int = 5) -> str:
    path = tmp_path / "node.toml"
    path.write_text(
        f"""device_id = "river-01"
[broker]
url = "{broker_url}"
keepalive_s = {keepalive_s}
[queue]
path = "{tmp_path / "queue.db"}"
[reconnect]
initial_s = 0.2
max_s = 1.0
[[sensors]]
name = "level"
driver = "virtual"
quantity = "water_level"
base = 1.5
interval_s = {interval_s}
samples = 1
"""
    )
    return str(path)


def test_reports_are_medians_of_samples_and_the_online_status_carries_health(broker, config_factory):
    config = config_factory(
        broker.url,
        sensors=[{"name": "level", "driver": "virtual", "quantity": "water_level", "interval_s": 0.05, "samples": 3}],
    )
    agent = Agent(config, drivers={"level": SequenceDriver([1.0, 9.0, 2.0, 3.0, 50.0, 4.0, 5.0])})
    with listening(broker.settings, "cs/v1/river-01/#") as seen:
        agent.start()
        try:
            seen.wait_for(lambda ms: len(readings_of(ms)) >= 2)
        finally:
            agent.stop()

        def statuses_of(messages: list) -> list[dict]:
            return [orjson.loads(m.payload) for m in messages if m.topic == wire.status_topic("river-01")]

        # The goodbye is sent before the agent disconnects, but reaches this listener a moment later.
        seen.wait_for(lambda ms: any(s["state"] == "offline" for s in statuses_of(ms)))
        values = [r.value for r in readings_of(seen.messages)][:2]
        assert values == [2.0, 4.0]
        statuses = statuses_of(seen.messages)
        online = statuses[0]
        assert online["state"] == "online"
        assert {"uptime_s", "disk_free_mb", "queue_depth", "agent_version", "cpu_temp_c"} <= set(online)
        assert statuses[-1]["state"] == "offline"  # a clean stop says goodbye itself


def test_a_killed_agent_is_marked_offline_by_its_last_will(broker, tmp_path):
    agent = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "edge", "run", "--config", node_toml(tmp_path, broker.url)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with listening(broker.settings, wire.status_topic("river-01")) as seen:
            seen.wait_for(lambda ms: any(orjson.loads(m.payload)["state"] == "online" for m in ms), timeout_s=20)
            agent.send_signal(signal.SIGKILL)
            agent.wait()
            # keepalive 5 s: the broker gives up after 1.5 x keepalive and publishes the will.
            seen.wait_for(lambda ms: orjson.loads(ms[-1].payload)["state"] == "offline", timeout_s=15)
    finally:
        agent.kill()
        agent.wait()


def stored_keys(store, device_id: str = "river-01", quantity: str = "water_level") -> set[tuple[str, str, int]]:
    frame = store.read_range(device_id=device_id, quantity=quantity, start_ms=0, end_ms=2**62)
    return {(device_id, quantity, int(t.value // 1_000_000)) for t in frame.index}


@pytest.fixture
def ingest(broker, tmp_path):
    settings = IngestSettings(data_dir=tmp_path, broker=broker.settings, client_id=f"ingest-{uuid.uuid4().hex[:6]}")
    store = open_store(settings.timeseries_url)
    worker = IngestWorker(settings, store)
    worker.start()
    yield worker, store
    worker.stop()
    store.close()


def test_power_cut_while_offline_loses_nothing_and_the_backlog_reaches_the_store(
    broker, ingest, tmp_path, config_factory
):
    # Phase 1: the mobile link is down (nothing listens on this port); the node queues, then loses power.
    dead_url = f"mqtt://127.0.0.1:{free_port()}"
    agent = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "edge", "run", "--config", node_toml(tmp_path, dead_url)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    queue_path = tmp_path / "queue.db"

    def depth() -> int:
        if not queue_path.exists():
            return 0
        probe = DiskQueue(queue_path, max_packs=10**6)
        try:
            return probe.depth
        finally:
            probe.close()

    try:
        wait_until(lambda: depth() >= 40, 30, "a backlog of 40 packs")
    finally:
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait()
    survivor = DiskQueue(queue_path, max_packs=10**6)
    backlog = {r.key for p in survivor.peek(limit=10**6) for r in wire.parse_pack(p.payload, now=time.time()).readings}
    assert survivor.counters()["queued_readings"] == len(backlog) >= 40  # every reading ever queued is still there
    survivor.close()

    # Phase 2: power and link are back: the same queue drains into the real store through real ingest.
    _worker, store = ingest
    agent2 = Agent(config_factory(broker.url))
    agent2.start()
    try:
        wait_until(lambda: backlog <= stored_keys(store), 30, "the backlog in the store")
    finally:
        agent2.stop()


def test_backlog_drains_oldest_first_at_a_bounded_rate_while_live_readings_flow(broker, config_factory):
    config = config_factory(broker.url, queue={"drain_per_s": 20})
    agent = Agent(config)
    start_ms = int(time.time() * 1000) - 3_600_000
    for i in range(60):  # an hour-old backlog, one pack a minute
        reading = wire.Reading("river-01", "water_level", 1.0, start_ms + i * 60_000)
        agent.queue.put(wire.build_pack("river-01", [reading]), 1)
    with listening(broker.settings, wire.readings_topic("river-01")) as seen:
        began = time.monotonic()
        agent.start()
        try:
            seen.wait_for(lambda ms: sum(1 for r in readings_of(ms) if r.time_ms < start_ms + 3_600_000) == 60)
            took = time.monotonic() - began
        finally:
            agent.stop()
    times = [r.time_ms for r in readings_of(seen.messages)]
    old = [t for t in times if t < start_ms + 3_600_000]
    assert old == sorted(old)  # oldest first
    assert took >= 1.5  # 60 packs at 20/s with a one-second burst: about 2 s, not all at once
    first_live = next(i for i, t in enumerate(times) if t >= start_ms + 3_600_000)
    assert first_live < times.index(old[-1])  # live readings did not wait for the backlog


def test_remote_config_is_applied_live_and_a_bad_one_is_refused_keeping_the_old(broker, config_factory):
    agent = Agent(config_factory(broker.url, health_interval_s=3600))
    topic = wire.config_topic("river-01")

    def statuses(ms):
        return [orjson.loads(m.payload) for m in ms if m.topic.endswith("/status")]

    with listening(broker.settings, wire.status_topic("river-01")) as seen:
        agent.start()
        try:
            publish(broker.settings, topic, [b'{"version": 2, "sensors": {"level": {"interval_s": 0.5}}}'], retain=True)
            seen.wait_for(lambda ms: any(s.get("config_version") == 2 for s in statuses(ms)))
            assert agent.config.sensors[0].interval_s == 0.5
            publish(broker.settings, topic, [b'{"version": 3, "sensors": {"pump": {"interval_s": 1}}}'], retain=True)
            seen.wait_for(lambda ms: any(s.get("config_error") for s in statuses(ms)))
        finally:
            agent.stop()
    refused = next(s for s in statuses(seen.messages) if s.get("config_error"))
    assert "unknown sensors: pump" in refused["config_error"]
    assert refused["config_version"] == 2
    assert agent.config.sensors[0].interval_s == 0.5


def test_the_agent_tells_systemd_it_is_ready_and_pings_the_watchdog(tmp_path, config_factory, monkeypatch):
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")
        agent = Agent(config_factory(f"mqtt://127.0.0.1:{free_port()}"))
        stop = threading.Event()
        agent.start()
        runner = threading.Thread(target=agent.run_until, args=(stop,))
        runner.start()
        try:
            messages = [sock.recv(4096).decode() for _ in range(2)]
        finally:
            stop.set()
            runner.join()
            agent.stop()
    assert messages[0] == "READY=1"
    assert messages[1].startswith("WATCHDOG=1\nSTATUS=queue")
    assert "link down" in messages[1]


def test_an_agent_without_sensors_publishes_what_it_is_given_at_once_not_at_the_next_tick(broker, config_factory):
    agent = Agent(config_factory(broker.url, sensors=[]))  # how a simulated device runs: fed through submit()
    now_ms = int(time.time() * 1000)
    with listening(broker.settings, wire.readings_topic("river-01")) as seen:
        agent.start()
        try:
            assert agent.link.connected.wait(10)
            began = time.monotonic()
            for i in range(10):  # one at a time: each must be at the broker before the next is given
                agent.submit([wire.Reading("river-01", "water_level", 1.0 + i, now_ms + i)])
                seen.wait_for(lambda ms, n=i + 1: len(readings_of(ms)) == n, timeout_s=5)
            took = time.monotonic() - began
            assert agent.queue.wait_empty(5)  # acknowledged, so gone from the disk queue
        finally:
            agent.stop()
    assert [r.value for r in readings_of(seen.messages)] == [1.0 + i for i in range(10)]
    assert agent.readings_queued == 10
    assert agent.sampler.alive  # nothing to sample is not a dead sampler: the watchdog keeps being fed
    # The link sleeps up to a second when idle; a queued pack wakes it. Waiting for ticks would take ~5 s.
    assert took < 2.5

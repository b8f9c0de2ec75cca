"""`--to mqtt`: every simulated device is an edge agent (packing, disk queue, link) against a real Mosquitto.

What arrives is compared with what the same seed generates into memory: every reading once, nothing
else. A broker outage in the middle of a run is absorbed by the devices' disk queues.
"""

from __future__ import annotations

import getpass
import math
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager

import paho.mqtt.client as paho
import pytest

from citysense import wire
from citysense.settings import BrokerSettings, SimulateSettings
from citysense.wire import Reading
from simulators.city import default_city
from simulators.fleet import Fleet
from simulators.run import RunOptions, run_simulation
from simulators.scenario import load_scenario
from simulators.signals import SignalModel
from simulators.sinks import QUEUES_DIR, CollectSink, MqttSink
from tests.support.mqtt import listening, wait_until
from tests.support.servers import mosquitto

Key = tuple[str, str, int, float]


def keys(readings: list[Reading]) -> Counter[Key]:
    return Counter((r.device_id, r.quantity, r.time_ms, r.value) for r in readings)


class Received:
    """Readings heard on `cs/v1/+/readings`, parsed and counted (duplicates included).

    `first_deliveries` leaves out the broker's own redeliveries to this subscriber (DUP flag set):
    what remains counts what the devices published, so a pack a device sent twice shows twice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: list[tuple[Reading, bool]] = []
        self.rejections: list[object] = []  # asserted empty by the tests, not here: paho's thread would die

    def add(self, message: paho.MQTTMessage) -> None:
        parsed = wire.parse_pack(message.payload, device_id=wire.device_from_topic(message.topic), now=time.time())
        with self._lock:
            self._readings.extend((r, bool(message.dup)) for r in parsed.readings)
            self.rejections.extend(parsed.rejections)

    def keys(self, *, first_deliveries: bool = False) -> Counter[Key]:
        with self._lock:
            return keys([r for r, dup in self._readings if not (first_deliveries and dup)])


def subscriber(broker: BrokerSettings) -> AbstractContextManager[Received]:
    """A persistent QoS 1 session on every device's readings: across a broker restart nothing is lost."""
    return listening(broker, wire.READINGS_FILTER, into=Received(), persistent=True)


@pytest.mark.timeout(120)
def test_a_run_over_mqtt_delivers_every_generated_reading_exactly_once(broker, tmp_path):
    start = math.floor((time.time() - 7200) / 60) * 60
    options = RunOptions(
        city=default_city(),
        scenario=load_scenario("demo"),
        seed=11,
        devices=40,
        speed=math.inf,
        until_s=7200,
        start=start,
        register=False,
    )
    truth = CollectSink()
    run_simulation(options, SimulateSettings(), sink=truth)
    expected = keys(truth.readings)
    settings = SimulateSettings(broker=broker.settings, data_dir=tmp_path)
    with subscriber(broker.settings) as heard:
        summary = run_simulation(options, settings)
        wait_until(lambda: heard.keys().total() >= summary.readings, 30, "every reading at the subscriber")
        time.sleep(0.5)  # a duplicate would arrive right behind
        got = heard.keys()
    assert summary.readings == expected.total() > 2000
    assert got == expected  # the same readings as generated, each exactly once
    assert not heard.rejections  # valid SenML, not in the future, each under its own device's topic
    queues = sorted((tmp_path / QUEUES_DIR).glob("*.db"))
    assert len(queues) == 40  # each device had its own disk queue in the data folder


@pytest.mark.timeout(60)
def test_readings_generated_while_the_broker_is_down_wait_on_disk_and_arrive_after_it_returns(tmp_path):
    devices = default_city().select(30)
    rounds, interval = (10, 20, 10), 60.0
    start = math.floor(time.time() / 60) * 60 - sum(rounds) * interval
    published: list[Reading] = []
    # Persistence keeps the subscriber's session across the restart; `user`: a broker started as root
    # would drop to "mosquitto" and could not write its persistence file here.
    with mosquitto(tmp_path / "broker", persistence=True, extra_config=f"user {getpass.getuser()}\n") as server:
        sink = MqttSink(server.settings, tmp_path / "queues")
        model = SignalModel(load_scenario("demo"), 5, start, devices=devices)
        fleet = Fleet(devices, model, sink, interval_s=interval, on_published=published.extend)
        with subscriber(server.settings) as heard:
            fleet.run_rounds(rounds[0])
            agents = list(sink.agents.values())
            sink.sync()
            wait_until(lambda: heard.keys() == keys(published), 20, "the readings before the outage")

            server.stop()  # the outage: every device loses its link
            wait_until(lambda: not any(a.link.connected.is_set() for a in agents), 10, "every link down")
            packs_before, readings_before = fleet.packs_sent, len(published)
            fleet.run_rounds(rounds[1])
            during = keys(published[readings_before:])
            # Everything generated meanwhile is in the devices' queues (SQLite), none of it delivered.
            assert sum(a.queue.depth for a in agents) == fleet.packs_sent - packs_before > 0
            assert sum(a.queue.counters()["queued_packs"] for a in agents) == fleet.packs_sent
            assert not during & heard.keys()

            server.start()  # same port: the links reconnect with backoff and drain their queues
            fleet.run_rounds(rounds[2])
            fleet.stop()  # returns when every queue is empty (the broker acknowledged everything)
            assert all(a.queue.depth == 0 for a in agents)
            wait_until(lambda: set(heard.keys()) >= set(keys(published)), 20, "every reading at the subscriber")
            time.sleep(0.5)  # a duplicate would arrive right behind
            got, first = heard.keys(), heard.keys(first_deliveries=True)
    assert during.total() > 300
    assert set(got) == set(keys(published))  # nothing lost during the outage, nothing else
    # Each published once by its device. (A reading the subscriber took just before the broker stopped
    # may come again with DUP set: its PUBACK can be lost in the shutdown; that is QoS 1 at the subscriber.)
    assert first == keys(published)
    assert not heard.rejections
    assert all(a.link.counters.connects == 2 for a in agents)  # the first connection and one after the outage

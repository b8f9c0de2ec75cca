"""Many devices, each with its own MQTT session, driven by one thread; a broker restart loses nothing."""

from __future__ import annotations

import getpass
import threading
import time

from citysense import wire
from citysense.wire import Reading
from simulators.swarm import Swarm
from testbed.mqtt import listening, wait_until
from testbed.servers import mosquitto

DEVICES = [f"swarm-{i:04d}" for i in range(300)]
ROUNDS = 4


def test_one_thread_drives_every_session_and_a_broker_restart_loses_no_report(tmp_path):
    published: set[tuple[str, int]] = set()
    lock = threading.Lock()

    def readings(device_id: str, time_ms: int) -> list[Reading]:
        with lock:
            published.add((device_id, time_ms))
        return [Reading(device_id, "temperature", 28.5, time_ms)]

    threads_before = threading.active_count()
    with (
        # Persistence (the observer's session survives the restart) writes as the user running the test.
        mosquitto(tmp_path / "broker", persistence=True, extra_config=f"user {getpass.getuser()}\n") as broker,
        listening(broker.settings, wire.READINGS_FILTER, persistent=True) as received,
    ):
        swarm = Swarm(broker.settings, DEVICES, readings, interval_s=2.0, rounds=ROUNDS, connects_per_s=1000)
        swarm.start()
        try:
            wait_until(lambda: swarm.stats.connected == len(DEVICES), what="every session connected")
            # Every device has its own session, and no thread of its own: the swarm's one.
            assert threading.active_count() <= threads_before + 3
            wait_until(lambda: swarm.stats.packs_published >= len(DEVICES), what="a first round")
            broker.stop()
            time.sleep(1.5)  # reports made now wait in their sessions' queues
            broker.start()
            wait_until(
                lambda: swarm.stats.packs_acknowledged >= len(DEVICES) * ROUNDS,
                timeout_s=60,
                what="every report acknowledged",
            )

            def keys() -> set[tuple[str, int]]:
                found = set()
                for message in list(received.messages):
                    device = wire.device_from_topic(message.topic)
                    found.update(
                        (device, r.time_ms) for r in wire.parse_pack(message.payload, device_id=device).readings
                    )
                return found

            wait_until(lambda: keys() >= published, timeout_s=30, what="every report delivered")
        finally:
            swarm.stop()
    assert len(published) == len(DEVICES) * ROUNDS
    assert swarm.stats.disconnects >= len(DEVICES)  # the restart did cut every session

"""The compose broker's own config (deploy/mosquitto/compose.conf) run by a real Mosquitto.

Only the container paths and ports are rewritten (to a temporary folder and free loopback ports);
the login, ACL and simulation-ACL files come from `citysense devices` as in a deployment.
"""

from __future__ import annotations

import contextlib
import getpass
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from citysense import wire
from citysense.db import connect
from citysense.provisioning.registry import BrokerFiles, add_device, add_service
from citysense.settings import BrokerSettings
from tests.support.mqtt import listening, publish
from tests.support.servers import free_port, mosquitto_binary, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CONF = (ROOT / "deploy" / "mosquitto" / "compose.conf").read_text()


@dataclass
class ComposeBroker:
    ports: dict[int, int]  # container port -> loopback port here
    logins: dict[str, str]

    def on(self, container_port: int, user: str | None = None) -> BrokerSettings:
        password = self.logins.get(user) if user else None
        return BrokerSettings(url=f"mqtt://127.0.0.1:{self.ports[container_port]}", username=user, password=password)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ComposeBroker]:
    auth = tmp_path / "auth"
    files = BrokerFiles(auth / "passwd", auth / "acl")
    sessions = connect(f"sqlite:///{tmp_path / 'registry.db'}")
    logins = {
        "air-01": add_device(sessions, files, "air-01", district="Kota Lama", kind="air"),
        "citysense-ingest": add_service(sessions, files, "citysense-ingest"),
    }
    ports = {int(p): free_port() for p in re.findall(r"^listener (\d+)", CONF, flags=re.MULTILINE)}
    conf = re.sub(r"^listener (\d+).*$", lambda m: f"listener {ports[int(m[1])]} 127.0.0.1", CONF, flags=re.MULTILINE)
    conf = conf.replace("/mosquitto/auth/", f"{auth}/").replace("/mosquitto/data/", f"{tmp_path}/")
    conf = conf.replace("/mosquitto/config/", f"{ROOT / 'deploy' / 'mosquitto'}/")
    (tmp_path / "mosquitto.conf").write_text(f"{conf}\nuser {getpass.getuser()}\nlog_dest stderr\n")
    log = (tmp_path / "mosquitto.log").open("ab")
    process = subprocess.Popen([mosquitto_binary(), "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        for port in ports.values():
            wait_for_port(port)
        yield ComposeBroker(ports, logins)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pack(device_id: str, value: float) -> bytes:
    return wire.build_pack(device_id, [wire.Reading(device_id, "pm25", value, int(time.time() * 1000))])


def test_the_simulation_listener_cannot_speak_for_a_provisioned_device(broker: ComposeBroker) -> None:
    sim = broker.on(1884)
    with listening(broker.on(1883, "citysense-ingest"), wire.READINGS_FILTER) as seen:
        # One anonymous connection, in order: forgeries for the device and a service, then a simulated device.
        client_payloads = [
            (wire.readings_topic("air-01"), _pack("air-01", 999.0)),
            (wire.readings_topic("citysense-ingest"), _pack("citysense-ingest", 999.0)),
            (wire.readings_topic("sim-air-07"), _pack("sim-air-07", 12.0)),
        ]
        for topic, payload in client_payloads:
            publish(sim, topic, [payload])
        seen.wait_for(lambda ms: any(m.topic == wire.readings_topic("sim-air-07") for m in ms))
        publish(broker.on(1883, "air-01"), wire.readings_topic("air-01"), [_pack("air-01", 11.0)])
        seen.wait_for(lambda ms: any(m.topic == wire.readings_topic("air-01") for m in ms))
    assert [(m.topic, wire.parse_pack(m.payload).readings[0].value) for m in seen.messages] == [
        (wire.readings_topic("sim-air-07"), 12.0),
        (wire.readings_topic("air-01"), 11.0),
    ]


def test_the_broker_healthcheck_does_not_use_the_simulation_listener(broker: ComposeBroker) -> None:
    test = COMPOSE["services"]["mosquitto"]["healthcheck"]["test"]
    port = int(test[test.index("-p") + 1])
    assert port != 1884
    assert "1884" not in CONF.split("listener 1885")[1], "the health listener must be its own"
    if shutil.which("mosquitto_pub") is None:
        pytest.fail("mosquitto_pub (mosquitto-clients) is needed to run the compose healthcheck")
    args = [*test[1:]]
    args[args.index("-p") + 1] = str(broker.ports[port])
    assert subprocess.run(args, capture_output=True, timeout=30).returncode == 0
    # The health listener grants nothing: its publish reached nobody.
    with listening(broker.on(1883, "citysense-ingest"), "#") as seen:
        assert subprocess.run(args, capture_output=True, timeout=30).returncode == 0
        publish(broker.on(1883, "air-01"), wire.readings_topic("air-01"), [_pack("air-01", 1.0)])
        seen.wait_for(lambda ms: any(m.topic == wire.readings_topic("air-01") for m in ms))
    assert [m.topic for m in seen.messages] == [wire.readings_topic("air-01")]


def test_a_message_over_the_size_limit_is_refused_at_the_broker(broker: ComposeBroker) -> None:
    device = broker.on(1883, "air-01")
    oversized = b"x" * 300_000
    with listening(broker.on(1883, "citysense-ingest"), wire.READINGS_FILTER) as seen:
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # the broker drops the connection
            publish(device, wire.readings_topic("air-01"), [oversized])
        publish(device, wire.readings_topic("air-01"), [_pack("air-01", 3.0)])
        seen.wait_for(lambda ms: any(len(m.payload) < 1000 for m in ms))
    assert [len(m.payload) < 1000 for m in seen.messages] == [True]

"""No sequence of `citysense devices` commands gives a device login more than its own topics.

The commands run through the real CLI against two registry databases that share one password file
and ACL (an operator on a host whose default SQLite registry is not the deployment's), then every
device login with a known password probes a real Mosquitto started with the generated files: read
another device's readings, write `cs/v1/tickets`, push a retained config to another device. Each
probe first runs as the service that holds the right, so a probe that could not see a grant fails.
"""

from __future__ import annotations

import getpass
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from typer.testing import CliRunner

from citysense import wire
from citysense.mqtt import connect_and_wait, make_client
from citysense.provisioning import PasswordFile
from citysense.provisioning.services import SERVICES
from citysense.settings import BrokerSettings
from launcher.cli import app
from tests.support.servers import Mosquitto, mosquitto


@dataclass
class Operator:
    """Runs `citysense devices ...` against one registry database, the broker files shared."""

    tmp: Path
    passwords: dict[str, str] = field(default_factory=dict)

    def run(self, registry: str, *args: str) -> int:
        env = {
            "CITYSENSE_DATA_DIR": str(self.tmp / "data"),
            "CITYSENSE_TICKETS_URL": f"sqlite:///{self.tmp / registry}.db",
            "CITYSENSE_MOSQUITTO_PASSWORD_FILE": str(self.tmp / "passwd"),
            "CITYSENSE_MOSQUITTO_ACL_FILE": str(self.tmp / "acl"),
            "CITYSENSE_BROKER__URL": "mqtt://127.0.0.1:1883",
        }
        result = CliRunner().invoke(app, ["devices", *args], env=env)
        if result.exit_code == 0 and args[0] == "add":
            config = tomllib.loads(result.stdout)
            self.passwords[config["device_id"]] = config["broker"]["password"]
        if result.exit_code == 0 and args[0] == "service":
            self.passwords[args[1]] = result.stdout.strip()
        return result.exit_code


# Each sequence is what an operator (or an attacker with shell access to a second registry) may type.
# `ok` says whether the command should succeed; every refused one must leave the files unchanged.
SEQUENCES: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {
    "another registry adds a device": [
        ("deploy", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),
        ("host", ("add", "water-01", "--district", "Sungai", "--kind", "water"), True),
        ("host", ("list",), True),
        ("host", ("add", "air-03", "--district", "Kota Lama", "--kind", "air"), True),
    ],
    "another registry takes over a device's login": [
        ("deploy", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),
        ("host", ("add", "air-01", "--district", "Elsewhere", "--kind", "air"), False),
        ("host", ("revoke", "air-01"), False),
        ("deploy", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),  # rotation stays possible
    ],
    "a device under a service's name": [
        ("deploy", ("add", "citysense-ingest", "--district", "X", "--kind", "air"), False),
        ("host", ("add", "Citysense-Analytics", "--district", "X", "--kind", "air"), False),
        ("host", ("add", "citysense-new-service", "--district", "X", "--kind", "air"), False),
        ("deploy", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),
    ],
    "a service under a device's or an unknown name": [
        ("deploy", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),
        ("host", ("service", "air-01"), False),
        ("host", ("service", "my-ingest"), False),
        ("host", ("add", "my-ingest", "--district", "X", "--kind", "air"), True),
    ],
    "revoke in one registry, re-add in another": [
        ("deploy", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),
        ("deploy", ("revoke", "air-01"), True),
        ("host", ("add", "air-01", "--district", "Kota Lama", "--kind", "air"), True),
        ("host", ("add", "rain-01", "--district", "Bukit", "--kind", "rain"), True),
    ],
}


class Login:
    """A connected client that records what it receives; `sync()` proves earlier traffic arrived.

    A QoS 1 publish to its own status topic is acknowledged only after the broker handled every
    packet this client sent before it, and the broker writes to this client in order, so after the
    PUBACK any message already routed to this client has been received.
    """

    def __init__(self, broker: Mosquitto, user: str, password: str) -> None:
        self.user = user
        self.received: list[paho.MQTTMessage] = []
        self.granted: list[int] = []
        self._subscribed = threading.Event()
        settings = BrokerSettings(url=broker.url, username=user, password=password)
        self.client = make_client(settings, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
        self.client.on_message = lambda _c, _u, m: self.received.append(m)
        self.client.on_subscribe = self._on_subscribe
        connect_and_wait(self.client, settings)

    def _on_subscribe(self, _c: object, _u: object, _mid: object, codes: list[object], _p: object) -> None:
        self.granted = [int(str(getattr(c, "value", c))) for c in codes]
        self._subscribed.set()

    def subscribe(self, *filters: str) -> None:
        self._subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self._subscribed.wait(10)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def sync(self) -> None:
        self.publish(wire.status_topic(self.user), b"online")

    def got(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.received if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    op = Operator(tmp_path)
    for service in SERVICES:
        assert op.run("deploy", "service", service) == 0
    assert op.run("deploy", "add", "victim-01", "--district", "Kota Lama", "--kind", "air") == 0
    return op


def _locked_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    extra = f"user {getpass.getuser()}\npassword_file {tmp_path / 'passwd'}\nacl_file {tmp_path / 'acl'}\n"
    return mosquitto(tmp_path / "broker", allow_anonymous=False, extra_config=extra)


def _reading(device_id: str) -> bytes:
    return wire.build_pack(device_id, [wire.Reading(device_id, "pm25", 12.0, int(time.time() * 1000))])


def _escalations(broker: Mosquitto, logins: dict[str, str]) -> list[str]:
    """Try each right on every device login, after proving the probe sees it for the service."""
    victim = Login(broker, "victim-01", logins["victim-01"])
    ingest = Login(broker, "citysense-ingest", logins["citysense-ingest"])
    analytics = Login(broker, "citysense-analytics", logins["citysense-analytics"])
    op = Login(broker, "citysense-operator", logins["citysense-operator"])
    found: list[str] = []
    try:
        ingest.subscribe(wire.SHARED_READINGS_FILTER)
        analytics.subscribe(wire.TICKETS_TOPIC, wire.READINGS_FILTER)
        # The probes can see a granted right: the services use theirs.
        victim.publish(wire.readings_topic("victim-01"), _reading("victim-01"))
        ingest.sync()
        assert ingest.got(wire.readings_topic("victim-01")), "the ingest service did not read a device's readings"
        analytics.publish(wire.TICKETS_TOPIC, b'{"probe": "analytics"}')
        analytics.sync()
        assert analytics.got(wire.TICKETS_TOPIC), "the analytics service could not write tickets"
        op.publish(wire.config_topic("victim-01"), b"interval_s = 9", retain=True)
        victim.subscribe(wire.config_topic("victim-01"))
        victim.sync()
        assert victim.got(wire.config_topic("victim-01")), "the operator service could not push a config"
        op.publish(wire.config_topic("victim-01"), b"", retain=True)  # clear it for the device probes

        for user, password in logins.items():
            if user in SERVICES or user == "victim-01":
                continue
            attacker = Login(broker, user, password)
            try:
                found += _probe(attacker, victim, analytics, op)
            finally:
                attacker.close()
    finally:
        for login in (victim, ingest, analytics, op):
            login.close()
    return found


def _probe(attacker: Login, victim: Login, analytics: Login, op: Login) -> list[str]:
    found: list[str] = []
    user = attacker.user
    attacker.subscribe(wire.readings_topic("victim-01"), wire.READINGS_FILTER, wire.SHARED_READINGS_FILTER, "#")
    victim.publish(wire.readings_topic("victim-01"), _reading("victim-01"))
    attacker.sync()
    if attacker.got(wire.readings_topic("victim-01")):
        found.append(f"{user} read another device's readings")

    before = len(analytics.got(wire.TICKETS_TOPIC))
    attacker.publish(wire.TICKETS_TOPIC, b'{"forged": true}')
    attacker.publish(wire.readings_topic(user), _reading(user))
    deadline = time.monotonic() + 10
    while not analytics.got(wire.readings_topic(user)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert analytics.got(wire.readings_topic(user)), f"{user}'s own reading never arrived"
    if len(analytics.got(wire.TICKETS_TOPIC)) > before:
        found.append(f"{user} wrote cs/v1/tickets")

    attacker.publish(wire.config_topic("victim-01"), b"interval_s = 0.001", retain=True)
    attacker.sync()
    op.received.clear()
    op.subscribe(wire.config_topic("victim-01"))
    op.sync()
    if [p for p in op.got(wire.config_topic("victim-01")) if p]:
        found.append(f"{user} pushed a retained config to another device")
    op.client.unsubscribe(wire.config_topic("victim-01"))
    return found


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_no_sequence_of_devices_commands_escalates_a_device(operator: Operator, tmp_path: Path, name: str) -> None:
    surprises = []
    for registry, args, ok in SEQUENCES[name]:
        before = ((tmp_path / "passwd").read_bytes(), (tmp_path / "acl").read_bytes())
        code = operator.run(registry, *args)
        if (code == 0) != ok:
            surprises.append(f"{registry}: devices {' '.join(args)} exited {code}")
        elif not ok and ((tmp_path / "passwd").read_bytes(), (tmp_path / "acl").read_bytes()) != before:
            surprises.append(f"{registry}: refused devices {' '.join(args)} changed the broker files")
    usable = {user: operator.passwords[user] for user in PasswordFile(tmp_path / "passwd").entries()}
    with _locked_broker(tmp_path) as broker:
        assert _escalations(broker, usable) == []
    assert surprises == []
    acl = (tmp_path / "acl").read_text()
    assert {line.split()[1] for line in acl.splitlines() if line.startswith("user ")} == set(SERVICES)


def test_a_login_the_registry_does_not_know_gets_only_its_own_topics(operator: Operator, tmp_path: Path) -> None:
    """A hand-added login (or one from a registry since lost) is treated as a device, never a service."""
    PasswordFile(tmp_path / "passwd").set("stray-login", "a-long-enough-password")
    assert operator.run("host", "add", "air-02", "--district", "X", "--kind", "air") == 0  # rewrites the ACL
    logins = {**operator.passwords, "stray-login": "a-long-enough-password"}
    with _locked_broker(tmp_path) as broker:
        assert _escalations(broker, logins) == []

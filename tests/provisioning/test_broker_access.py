"""A real Mosquitto started with the password file and ACL that provisioning writes."""

from __future__ import annotations

import getpass
import signal
import time

import pytest

from citysense import wire
from citysense.db import connect
from citysense.errors import BrokerUnavailableError
from citysense.mqtt import connect_and_wait, make_client
from citysense.provisioning.registry import BrokerFiles, add_device, add_service, revoke_device
from citysense.settings import BrokerSettings
from tests.support.mqtt import listening, publish
from tests.support.servers import mosquitto


@pytest.fixture
def locked(tmp_path):
    files = BrokerFiles(tmp_path / "passwd", tmp_path / "acl")
    sessions = connect(f"sqlite:///{tmp_path / 'citysense.db'}")
    logins = {
        "air-01": add_device(sessions, files, "air-01", district="Kota Lama", kind="air"),
        "air-02": add_device(sessions, files, "air-02", district="Kota Lama", kind="air"),
        "citysense-ingest": add_service(sessions, files, "citysense-ingest"),
    }
    # `user`: a broker started as root would drop to "mosquitto" and lose read access to the 0600 file.
    extra = f"user {getpass.getuser()}\npassword_file {files.password_file}\nacl_file {files.acl_file}\n"
    with mosquitto(tmp_path / "broker", allow_anonymous=False, extra_config=extra) as broker:
        yield broker, logins, sessions, files


def as_user(broker, user: str, password: str | None) -> BrokerSettings:
    return BrokerSettings(url=broker.url, username=user, password=password)


def try_connect(settings: BrokerSettings) -> None:
    client = make_client(settings, client_id="")
    connect_and_wait(client, settings)
    client.disconnect()
    client.loop_stop()


def test_anonymous_and_wrong_passwords_are_refused(locked):
    broker, logins, _, _ = locked
    with pytest.raises(BrokerUnavailableError, match="refused"):
        try_connect(broker.settings)
    with pytest.raises(BrokerUnavailableError, match="refused"):
        try_connect(as_user(broker, "air-01", logins["air-02"]))
    try_connect(as_user(broker, "air-01", logins["air-01"]))


def test_a_device_cannot_publish_for_another_device(locked):
    broker, logins, _, _ = locked
    service = as_user(broker, "citysense-ingest", logins["citysense-ingest"])
    device = as_user(broker, "air-01", logins["air-01"])
    now_ms = int(time.time() * 1000)
    forged = wire.build_pack("air-02", [wire.Reading("air-02", "pm25", 999.0, now_ms)])
    genuine = wire.build_pack("air-01", [wire.Reading("air-01", "pm25", 12.0, now_ms)])
    with listening(service, wire.READINGS_FILTER) as seen:
        publish(device, wire.readings_topic("air-02"), [forged])
        publish(device, wire.readings_topic("air-01"), [genuine])
        seen.wait_for(lambda ms: any(m.topic == wire.readings_topic("air-01") for m in ms))
    # Same connection, in order: the genuine pack arrived, so the forged one was dropped, not late.
    assert [m.topic for m in seen.messages] == [wire.readings_topic("air-01")]


def test_a_revoked_device_is_refused_after_the_broker_reloads(locked):
    broker, logins, sessions, files = locked
    revoke_device(sessions, files, "air-02")
    broker.process.send_signal(signal.SIGHUP)  # what `systemctl reload mosquitto` does
    deadline = time.monotonic() + 10
    while True:
        try:
            try_connect(as_user(broker, "air-02", logins["air-02"]))
        except BrokerUnavailableError:
            break
        assert time.monotonic() < deadline, "revoked login still accepted after reload"
        time.sleep(0.2)
    try_connect(as_user(broker, "air-01", logins["air-01"]))

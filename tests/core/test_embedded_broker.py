"""The embedded broker of `citysense demo` (amqtt) behaves as Mosquitto does where the demo relies on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from citysense import wire
from citysense.broker import EmbeddedBroker
from citysense.settings import BrokerSettings
from testbed.mqtt import listening, publish
from testbed.servers import free_port


@pytest.fixture
def embedded() -> Iterator[BrokerSettings]:
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    try:
        yield BrokerSettings(url=broker.url)
    finally:
        broker.stop()


def test_a_new_subscriber_gets_only_the_retained_messages_of_its_own_filter(embedded):
    status = wire.status_topic("kota-lama-air-01")
    publish(embedded, status, [b'{"state":"online"}'], retain=True)
    with listening(embedded, wire.STATUS_FILTER) as statuses:  # another client holds a status filter
        statuses.wait_for(lambda m: len(m) == 1)
        with listening(embedded, wire.DEADLETTER_TOPIC) as dead:
            publish(embedded, wire.DEADLETTER_TOPIC, [b"marker"])
            dead.wait_for(lambda m: any(x.payload == b"marker" for x in m))
            assert [m.topic for m in dead.messages] == [wire.DEADLETTER_TOPIC]

"""Nodes' retained status messages kept in the device registry by ingest (real Mosquitto, SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from citysense import wire
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.db.models import Device
from citysense.settings import IngestSettings
from ingest.fleet_status import parse_status, record
from ingest.service import IngestService
from tests.support.mqtt import publish, wait_until


def _device(sessions, device_id: str) -> Device:
    with sessions() as session:
        return session.scalars(select(Device).where(Device.id == device_id)).one()


def test_ingest_keeps_each_nodes_version_queue_depth_and_battery(broker, tmp_path, tickets_url):
    settings = IngestSettings(
        data_dir=tmp_path, broker=broker.settings, client_id="ingest-s", metrics_port=0, tickets_url=tickets_url
    )
    sessions = connect(tickets_url)
    register_devices(
        sessions, [DeviceInfo("gauge-1", "sungai-barat", "river"), DeviceInfo("gauge-2", "kota-lama", "river")]
    )
    # Retained before ingest starts (as after a restart of ingest): still recorded.
    publish(
        broker.settings,
        wire.status_topic("gauge-1"),
        [wire.status_payload(online=True, at=1_700_000_000.0, agent_version="0.3.1", queue_depth=42, battery_pct=61.5)],
        retain=True,
    )
    service = IngestService(settings)
    service.start()
    try:
        assert service.status is not None
        wait_until(lambda: _device(sessions, "gauge-1").agent_version == "0.3.1", what="the retained status recorded")
        publish(broker.settings, wire.status_topic("gauge-2"), [b"not json", b'{"state": "asleep"}'])
        publish(broker.settings, wire.status_topic("unknown-9"), [wire.status_payload(online=True, queue_depth=1)])
        publish(broker.settings, wire.status_topic("gauge-1"), [wire.status_payload(online=False)])  # its last will
        wait_until(lambda: service.status.skipped >= 3, what="bad and unregistered statuses skipped")
        wait_until(lambda: _device(sessions, "gauge-1").status_state == "offline", what="the will recorded")
    finally:
        service.stop()
    gauge = _device(sessions, "gauge-1")
    # The will carries no health: the node's last word on itself is kept.
    assert (gauge.agent_version, gauge.queue_depth, gauge.battery_pct) == ("0.3.1", 42, 61.5)
    assert _device(sessions, "gauge-2").status_state is None


def test_a_status_that_is_not_one_is_refused():
    assert parse_status("cs/v1/gauge-1/status", b"[1, 2]") is None
    assert parse_status("cs/v1/gauge-1/readings", wire.status_payload(online=True)) is None
    odd = parse_status(
        "cs/v1/gauge-1/status", b'{"state": "online", "queue_depth": -4, "battery_pct": 250, "agent_version": 7}'
    )
    assert odd is not None
    assert (odd.queue_depth, odd.battery_pct, odd.agent_version) == (None, None, None)


def test_a_node_that_loses_its_battery_level_stops_showing_the_old_one(tickets_url):
    """A UPS HAT taken off: the node says `battery_pct: null` and the registry forgets 61.5 %; a will
    (no health at all) still keeps what the node last said."""
    sessions = connect(tickets_url)
    register_devices(sessions, [DeviceInfo("gauge-1", "sungai-barat", "river")])
    topic = wire.status_topic("gauge-1")
    for payload in (
        wire.status_payload(online=True, queue_depth=3, battery_pct=61.5),
        wire.status_payload(online=False),
    ):
        status = parse_status(topic, payload)
        assert status is not None
        record(sessions, status)
    assert _device(sessions, "gauge-1").battery_pct == 61.5
    status = parse_status(topic, wire.status_payload(online=True, queue_depth=3, battery_pct=None))
    assert status is not None
    record(sessions, status)
    gauge = _device(sessions, "gauge-1")
    assert (gauge.status_state, gauge.queue_depth, gauge.battery_pct) == ("online", 3, None)

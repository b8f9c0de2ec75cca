"""Analytics against real Mosquitto and PostgreSQL: a finding survives a kill between receipt and
commit; a database outage past `store_outage_s` is fatal (`/readyz` says why, exit non-zero) and
loses nothing; a device registered after its first reading gets its district."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest

from analytics.service import AnalyticsService
from citysense.db import Ticket, connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import AnalyticsSettings
from citysense.wire import Reading
from testbed.mqtt import wait_until
from testbed.servers import postgres_database
from tests.analytics.processes import deliver, libpq, open_tickets, position_of, start_analytics

MIN = 60_000
GAUGE = "riverside-gauge-1"


@pytest.fixture
def city(broker, tmp_path):
    with postgres_database() as tickets_url:
        register_devices(connect(tickets_url), [DeviceInfo(GAUGE, "riverside", "water")])
        yield {
            "broker_url": broker.url,
            "tickets_url": tickets_url,
            "store_url": f"sqlite:///{tmp_path / 'ts.db'}",
            "data_dir": tmp_path,
        }


def waiting_on_a_lock(tickets_url: str) -> bool:
    with psycopg.connect(libpq(tickets_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def test_a_finding_interrupted_between_receipt_and_commit_is_made_after_a_restart(broker, city):
    t0 = int(time.time() * 1000) - 30 * MIN
    analytics = start_analytics(client_id="analytics-a", **city)
    try:
        analytics.wait_ready()
        deliver(broker.settings, city["store_url"], [Reading(GAUGE, "water_level", 1.0, t0)])
        wait_until(lambda: position_of(city["tickets_url"], GAUGE) == t0, what="the first reading committed")

        # Hold the tickets table: analytics receives the flood readings and blocks before its commit.
        with psycopg.connect(libpq(city["tickets_url"])) as holder:
            holder.execute("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
            deliver(
                broker.settings,
                city["store_url"],
                [Reading(GAUGE, "water_level", 2.8, t0 + MIN), Reading(GAUGE, "water_level", 2.9, t0 + 2 * MIN)],
            )
            wait_until(lambda: waiting_on_a_lock(city["tickets_url"]), what="analytics waiting for its commit")
            analytics.kill()
            holder.rollback()
        assert open_tickets(city["tickets_url"]) == []

        analytics = start_analytics(client_id="analytics-a", **city)
        analytics.wait_ready()
        wait_until(lambda: open_tickets(city["tickets_url"]) != [], what="the flood ticket after the restart")
        time.sleep(1)  # a redelivered copy of the message must not open a second ticket
        assert open_tickets(city["tickets_url"]) == [("flood:riverside", "riverside")]
    finally:
        analytics.stop()


def test_a_database_outage_past_the_limit_is_fatal_says_why_and_loses_nothing(broker, city):
    t0 = int(time.time() * 1000) - 30 * MIN
    analytics = start_analytics(client_id="analytics-b", STORE_OUTAGE_S="4", **city)
    try:
        analytics.wait_ready()
        deliver(broker.settings, city["store_url"], [Reading(GAUGE, "water_level", 1.0, t0)])
        wait_until(lambda: position_of(city["tickets_url"], GAUGE) == t0, what="the first reading committed")
        with psycopg.connect(libpq(city["tickets_url"]), autocommit=True) as admin:
            admin.execute("ALTER TABLE tickets RENAME TO tickets_away")  # every ticket write now fails
            deliver(
                broker.settings,
                city["store_url"],
                [Reading(GAUGE, "water_level", 2.8, t0 + MIN), Reading(GAUGE, "water_level", 2.9, t0 + 2 * MIN)],
            )
            seen: dict = {}

            def outage_reported() -> bool:
                status, body = analytics.readyz()
                seen.update(body)
                return status == 503

            wait_until(outage_reported, what="/readyz reporting the outage")
            assert "tickets database" in seen["reason"]
            assert "refused writes" in seen["reason"]
            assert analytics.process.wait(timeout=30) == 1
            assert "analytics stopped" in analytics.log.read_text()
            admin.execute("ALTER TABLE tickets_away RENAME TO tickets")

        analytics = start_analytics(client_id="analytics-b", **city)
        analytics.wait_ready()
        wait_until(lambda: open_tickets(city["tickets_url"]) != [], what="the flood ticket after the restart")
        assert open_tickets(city["tickets_url"]) == [("flood:riverside", "riverside")]
    finally:
        analytics.stop()


def _register_the_bin_and_see_it_full(service: AnalyticsService, settings: AnalyticsSettings, t0: int) -> None:
    """bin-9 registered in old-town: the engine learns its district, and its full readings are a finding."""
    register_devices(connect(settings.tickets_url), [DeviceInfo("bin-9", "old-town", "bin")])
    wait_until(lambda: service.engine.meta("bin-9").district == "old-town", what="the registry re-read")
    deliver(
        settings.broker,
        settings.timeseries_url,
        [Reading("bin-9", "bin_fill", 98.0, t0 + MIN), Reading("bin-9", "bin_fill", 99.0, t0 + 2 * MIN)],
    )
    wait_until(lambda: service.findings >= 1, what="the full-bin finding")


def test_a_device_registered_after_its_first_reading_gets_its_district(broker, tmp_path):
    settings = AnalyticsSettings(
        data_dir=tmp_path, broker=broker.settings, client_id="analytics-c", registry_refresh_s=0.3, metrics_port=0
    )
    t0 = int(time.time() * 1000) - 30 * MIN
    service = AnalyticsService(settings)
    service.start()
    try:
        deliver(broker.settings, settings.timeseries_url, [Reading("bin-9", "bin_fill", 40.0, t0)])
        wait_until(lambda: service.readings_seen >= 1, what="the unregistered bin's first reading")
        assert service.engine.meta("bin-9").district == "unknown"

        _register_the_bin_and_see_it_full(service, settings, t0)
    finally:
        service.stop()
    with connect(settings.tickets_url)() as session:
        (ticket,) = session.query(Ticket).all()
    assert ticket.district == "old-town"


def test_a_registry_that_cannot_answer_costs_a_district_not_the_stream(broker, tmp_path):
    """A new device's registry lookup that raised out of the MQTT callback stopped the loop: every
    later reading of every device went unscored. Now the device counts as unknown until the
    registry answers again."""
    settings = AnalyticsSettings(
        data_dir=tmp_path, broker=broker.settings, client_id="analytics-d", registry_refresh_s=0.3, metrics_port=0
    )
    t0 = int(time.time() * 1000) - 30 * MIN
    service = AnalyticsService(settings)
    service.start()
    tickets_db = settings.tickets_url.removeprefix("sqlite:///")
    try:
        with sqlite3.connect(tickets_db) as db:
            db.execute("ALTER TABLE devices RENAME TO devices_away")
        deliver(broker.settings, settings.timeseries_url, [Reading("bin-9", "bin_fill", 40.0, t0)])
        wait_until(lambda: service.readings_seen >= 1, what="the first reading while the registry is away")
        deliver(broker.settings, settings.timeseries_url, [Reading("bin-8", "bin_fill", 41.0, t0)])
        wait_until(lambda: service.readings_seen >= 2, what="the next device's reading, the loop still running")
        assert service.engine.meta("bin-9").district == "unknown"

        with sqlite3.connect(tickets_db) as db:
            db.execute("ALTER TABLE devices_away RENAME TO devices")
        _register_the_bin_and_see_it_full(service, settings, t0)
    finally:
        service.stop()

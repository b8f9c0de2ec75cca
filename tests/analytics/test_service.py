"""`citysense analytics` against a real Mosquitto: warm-up from the store, tickets on cs/v1/tickets."""

from __future__ import annotations

import random
import time

import orjson
import pytest

from analytics.service import AnalyticsService
from citysense import wire
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import AnalyticsSettings
from citysense.timeseries import open_store
from citysense.wire import Reading
from tests.support.mqtt import listening, publish, wait_until

MIN = 60_000
DEVICE = "kota-lama-air-01"


@pytest.fixture
def settings(broker, tmp_path):
    s = AnalyticsSettings(data_dir=tmp_path, broker=broker.settings, client_id="analytics-test")
    register_devices(connect(s.tickets_url), [DeviceInfo(DEVICE, "kota-lama", "air")])
    return s


def write_history(settings: AnalyticsSettings, end_ms: int, hours: int = 26) -> None:
    """A day of ordinary PM2.5, one reading a minute, in the store ingest would have filled."""
    rng = random.Random(3)
    start = end_ms - hours * 60 * MIN
    store = open_store(settings.timeseries_url)
    try:
        store.write(
            [Reading(DEVICE, "pm25", float(round(25 + rng.gauss(0, 3))), start + m * MIN) for m in range(hours * 60)]
        )
    finally:
        store.close()


def stuck_packs(start_ms: int, minutes: int) -> list[bytes]:
    """The sensor then repeats one value for `minutes`, as a stuck one does."""
    return [wire.build_pack(DEVICE, [Reading(DEVICE, "pm25", 31.0, start_ms + m * MIN)]) for m in range(minutes)]


def run_service(settings: AnalyticsSettings, packs: list[bytes], expect_ticket: bool) -> list[dict]:
    service = AnalyticsService(settings)
    with listening(settings.broker, wire.TICKETS_TOPIC) as events:
        service.start()
        try:
            publish(settings.broker, wire.readings_topic(DEVICE), packs)
            wait_until(lambda: service.readings_seen >= len(packs), what="analytics saw every reading")
            if expect_ticket:
                events.wait_for(lambda messages: len(messages) >= 1)
            else:
                time.sleep(0.5)
        finally:
            service.stop()
        return [orjson.loads(m.payload) for m in events.messages]


def test_after_a_restart_analytics_warms_up_from_the_store_and_spots_a_stuck_sensor(settings):
    now = int(time.time() * 1000)
    write_history(settings, now - 90 * MIN)
    tickets = run_service(settings, stuck_packs(now - 90 * MIN, 90), expect_ticket=True)

    (event,) = tickets
    assert event["event"] == "opened"
    assert event["ticket"]["service_code"] == "device_fault"
    assert event["ticket"]["dedupe_key"] == f"device_fault:kota-lama:{DEVICE}"
    # The batch model was trained from the same history and saved for the next start.
    assert (settings.data_dir / "models" / "air.pm25.json").is_file()
    restarted = AnalyticsService(settings)
    restarted.warm_up()
    assert sorted(restarted.engine.models) == ["air.pm25"]


def test_a_cold_start_without_history_does_not_guess(settings):
    now = int(time.time() * 1000)
    cold = settings.model_copy(update={"warmup_s": 0.0})
    assert run_service(cold, stuck_packs(now - 90 * MIN, 90), expect_ticket=False) == []


def test_detector_state_and_false_alarm_marks_survive_a_restart(tmp_path):
    """What the detectors learned (saved on stop) and what operators taught (in the database) come back."""
    from datetime import UTC, datetime

    from citysense.db.models import FalseAlarm, Ticket

    settings = AnalyticsSettings(data_dir=tmp_path)
    first = AnalyticsService(settings)
    rng = random.Random(4)
    for m in range(600):
        first.engine.process(Reading(DEVICE, "pm25", 25 + rng.gauss(0, 3), 1_767_546_000_000 + m * MIN))
    first.save_anomaly_state()
    with first.sessions.begin() as session:
        ticket = Ticket(
            dedupe_key="anomaly:kota-lama:x", service_code="anomaly", title="t", district="kota-lama", severity="low",
            quantity="pm25", threshold=0.0, peak_value=0.0, devices=[DEVICE], opened_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(ticket)
        session.flush()
        session.add(FalseAlarm(ticket_id=ticket.id, device_id=DEVICE, quantity="pm25", deviation=7.5, marked_by="t"))

    second = AnalyticsService(settings)
    assert second.load_anomaly_state() == 1
    assert second.learn_feedback() == 1
    second.engine.process(Reading(DEVICE, "pm25", 25.0, 1_767_546_000_000 + 600 * MIN))
    series = second.engine._series[(DEVICE, "pm25")].anomaly
    assert series.n == 601  # resumed, not started afresh
    assert series._channels[""].tolerance == 7.5

"""Anomaly tickets: operators see them at once, residents after a confirmation; false-alarm marks
are recorded for analytics, which then stays quiet on the same deviation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from analytics.feedback import FeedbackReader
from analytics.findings import Finding
from citysense.db.models import FalseAlarm
from citysense.wire import Reading
from launcher.cli import app as cli
from tests.api.support import key, sensor_ticket

T0 = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


@pytest.fixture
def settings(settings):
    """No public cache: what a resident sees is read afresh after each operator step."""
    return settings.model_copy(update={"public_cache_s": 0.0})


def _anomaly(city, device_id: str = "pump-7", deviation: float = 0.42) -> int:
    """What the engine tells the ticket policy when a series stays at alarm (see analytics/engine.py)."""
    city.devices((device_id, "kota-lama", "pump"))
    change = city.policy.observe(
        Finding(
            service_code="anomaly",
            scope="device",
            kind="anomaly",
            district="kota-lama",
            device_id=device_id,
            quantity="temperature",
            value=41.5,
            threshold=31.0,
            severity="low",
            detector="anomaly",
            score=0.93,
            time_ms=T0_MS,
            title="Unusual readings, inspection needed",
            evidence={"expected": {"low": 27.0, "high": 31.0}, "observed": 41.0, "deviation": deviation},
            public=False,
        )
    )
    assert change is not None
    return change.ticket_id


def _public_ids(client) -> set[int]:
    return {t["id"] for t in client.get("/public/v1/tickets").json()["data"]}


def test_operators_see_anomaly_tickets_at_once_residents_after_confirmation(city, client):
    ticket_id = _anomaly(city)
    crew = key(city, "tickets:read", "tickets:write")
    assert ticket_id in {t["id"] for t in client.get("/api/v1/tickets", headers=crew).json()["data"]}
    assert ticket_id not in _public_ids(client)
    assert client.get(f"/public/v1/tickets/{ticket_id}").status_code == 404

    confirmed = client.post(f"/api/v1/tickets/{ticket_id}/confirm", headers=crew, json={"note": "Pump runs hot."})
    assert confirmed.status_code == 200
    assert confirmed.json()["timeline"][-1]["kind"] == "confirmed"
    assert ticket_id in _public_ids(client)
    public = client.get(f"/public/v1/tickets/{ticket_id}").json()
    assert [step["kind"] for step in public["timeline"]] == ["opened", "confirmed"]
    # Confirming again changes nothing (no second timeline step).
    again = client.post(f"/api/v1/tickets/{ticket_id}/confirm", headers=crew).json()
    assert [step["kind"] for step in again["timeline"]] == ["opened", "confirmed"]


def test_false_alarm_is_recorded_resolves_the_ticket_and_reaches_analytics(city, client):
    ticket_id = _anomaly(city, deviation=0.42)
    crew = key(city, "tickets:read", "tickets:write")
    reader = FeedbackReader(city.sessions)
    assert reader.new() == []

    marked = client.post(f"/api/v1/tickets/{ticket_id}/false-alarm", headers=crew, json={"note": "Sun on the case."})
    assert marked.status_code == 200
    assert marked.json()["status"] == "resolved"
    assert marked.json()["timeline"][-1]["kind"] == "false_alarm"
    with city.sessions() as session:
        row = session.scalars(select(FalseAlarm).where(FalseAlarm.ticket_id == ticket_id)).one()
    assert (row.device_id, row.quantity, row.deviation) == ("pump-7", "temperature", 0.42)
    assert row.marked_by.startswith("key:")
    lessons = reader.new()
    assert [(x.device_id, x.quantity, x.deviation) for x in lessons] == [("pump-7", "temperature", 0.42)]
    assert reader.new() == []  # each mark once
    assert ticket_id not in _public_ids(client)

    twice = client.post(f"/api/v1/tickets/{ticket_id}/false-alarm", headers=crew)
    assert twice.status_code == 409
    assert "already" in twice.json()["detail"]
    assert client.post(f"/api/v1/tickets/{ticket_id}/confirm", headers=crew).status_code == 409


@pytest.mark.parametrize("action", ["confirm", "false-alarm"])
def test_only_anomaly_tickets_and_known_ones(city, client, action):
    city.devices(("river-1", "riverside", "water"))
    flood = sensor_ticket(city, Reading("river-1", "water_level", 3.0, T0_MS), "riverside").ticket_id
    crew = key(city, "tickets:read", "tickets:write")
    wrong = client.post(f"/api/v1/tickets/{flood}/{action}", headers=crew)
    assert wrong.status_code == 409
    assert "only anomaly tickets" in wrong.json()["detail"]
    assert client.post(f"/api/v1/tickets/999999/{action}", headers=crew).status_code == 404
    reader_only = key(city, "tickets:read")
    assert client.post(f"/api/v1/tickets/{flood}/{action}", headers=reader_only).status_code == 403


def test_cli_marks_a_false_alarm(settings, city, monkeypatch):
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(settings.data_dir))
    ticket_id = _anomaly(city, device_id="pump-8", deviation=1.5)
    result = CliRunner().invoke(cli, ["tickets", "false-alarm", str(ticket_id), "--by", "budi"])
    assert result.exit_code == 0, result.output
    assert "resolved" in result.stdout
    with city.sessions() as session:
        row = session.scalars(select(FalseAlarm).where(FalseAlarm.ticket_id == ticket_id)).one()
    assert (row.device_id, row.deviation, row.marked_by) == ("pump-8", 1.5, "cli:budi")
    again = CliRunner().invoke(cli, ["tickets", "false-alarm", str(ticket_id)])
    assert again.exit_code == 1
    assert "already" in again.output

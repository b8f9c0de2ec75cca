"""The ticket state machine: valid steps move a ticket and are audited, invalid ones answer 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.keys import create_key
from citysense.wire import Reading
from tests.api.support import key, policy_of, sensor_ticket

T0 = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


@pytest.fixture
def flood(city):
    city.devices(("river-1", "riverside", "water"))
    change = sensor_ticket(city, Reading("river-1", "water_level", 3.0, T0_MS), "riverside")
    assert change is not None
    return change.ticket_id


def test_walk_through_every_step_with_audit_and_public_timeline(city, client, flood):
    crew = key(city, "tickets:read", "tickets:write")
    base = f"/api/v1/tickets/{flood}"
    assert client.post(f"{base}/acknowledge", headers=crew, json={"note": "Crew on the way."}).json()["status"] == (
        "acknowledged"
    )
    expected = (T0 + timedelta(days=1)).isoformat()
    assigned = client.post(
        f"{base}/assign", headers=crew, json={"assignee": "Pump crew 3", "expected_completion_at": expected}
    ).json()
    assert (assigned["status"], assigned["assignee"]) == ("assigned", "Pump crew 3")
    assert assigned["expected_completion_at"] == "2026-09-22T12:00:00Z"
    client.post(f"{base}/comment", headers=crew, json={"message": "call Budi on 0812", "public": False})
    client.post(f"{base}/comment", headers=crew, json={"message": "Pumps running.", "public": True})
    resolved = client.post(f"{base}/resolve", headers=crew, json={"note": "Water receded."}).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    reopened = client.post(f"{base}/reopen", headers=crew).json()
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)

    kinds = [step["kind"] for step in reopened["timeline"]]
    assert kinds == ["opened", "acknowledged", "assigned", "comment", "comment", "resolved", "reopened"]

    audit = client.get(f"{base}/audit", headers=crew).json()
    ours = [a for a in audit["data"] if a["actor"].startswith("key:")]
    actions = [(a["action"], a["details"]["from"]) for a in ours]
    assert actions == [
        ("ticket.acknowledge", "open"),
        ("ticket.assign", "acknowledged"),
        ("ticket.comment", "assigned"),
        ("ticket.comment", "assigned"),
        ("ticket.resolve", "assigned"),
        ("ticket.reopen", "resolved"),
    ]
    assert {a["actor"] for a in ours} == {"key:1:test"}
    assert all(datetime.fromisoformat(a["at"]) > T0 for a in ours)

    public = client.get(f"/public/v1/tickets/{flood}").json()
    steps = [(s["kind"], s["message"]) for s in public["timeline"]]
    assert ("comment", "Pumps running.") in steps
    assert not any("Budi" in message for _, message in steps)  # internal comment stays inside
    assert "Pump crew 3" not in str(public)  # who exactly is internal; that a crew is coming is not
    assert any("Expected completion: 2026-09-22 12:00 UTC" in message for _, message in steps)
    assert public["agency"] == "water"


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ([], "reopen"),  # open tickets cannot be reopened
        (["acknowledge"], "acknowledge"),  # twice
        (["resolve"], "resolve"),
        (["resolve"], "acknowledge"),
        (["resolve"], "assign"),
    ],
)
def test_invalid_transition_is_409_and_changes_nothing(city, client, flood, steps, refused):
    crew = key(city, "tickets:read", "tickets:write")
    for step in steps:
        body = {"assignee": "x"} if step == "assign" else None
        assert client.post(f"/api/v1/tickets/{flood}/{step}", headers=crew, json=body).status_code == 200
    before = client.get(f"/api/v1/tickets/{flood}", headers=crew).json()
    body = {"assignee": "x"} if refused == "assign" else None
    response = client.post(f"/api/v1/tickets/{flood}/{refused}", headers=crew, json=body)
    assert response.status_code == 409
    assert f"cannot {refused} a ticket that is {before['status']}" in response.json()["detail"]
    assert client.get(f"/api/v1/tickets/{flood}", headers=crew).json() == before


def test_bad_bodies_and_unknown_tickets(city, client, flood):
    crew = key(city, "tickets:read", "tickets:write")
    missing = client.post(f"/api/v1/tickets/{flood}/assign", headers=crew, json={})
    assert missing.status_code == 422
    assert "assignee" in missing.json()["message"]
    empty = client.post(f"/api/v1/tickets/{flood}/comment", headers=crew, json={"message": ""})
    assert empty.status_code == 422
    assert client.post("/api/v1/tickets/999/acknowledge", headers=crew).status_code == 404


def test_analytics_resolves_untouched_tickets_and_leaves_taken_ones_to_operators(city, client):
    city.devices(("river-1", "riverside", "water"), ("air-1", "riverside", "air"))
    untouched = sensor_ticket(city, Reading("river-1", "water_level", 3.0, T0_MS), "riverside").ticket_id
    taken = sensor_ticket(city, Reading("air-1", "pm25", 80.0, T0_MS), "riverside").ticket_id
    crew = key(city, "tickets:read", "tickets:write")
    client.post(f"/api/v1/tickets/{taken}/assign", headers=crew, json={"assignee": "Air team"})

    changes = policy_of(city).resolve_quiet(T0 + timedelta(hours=1))
    assert [(c.event, c.ticket_id) for c in changes] == [("resolved", untouched)]
    assert client.get(f"/api/v1/tickets/{taken}", headers=crew).json()["status"] == "assigned"
    assert client.post(f"/api/v1/tickets/{taken}/resolve", headers=crew).json()["status"] == "resolved"


def test_reopen_is_409_when_a_newer_ticket_covers_the_incident(tickets_url, settings):
    """On both databases: the partial unique index keeps one unresolved ticket per incident."""
    settings = settings.model_copy(update={"tickets_url": tickets_url, "webhooks_enabled": False})
    city = SimpleNamespace(sessions=connect(tickets_url))
    register_devices(city.sessions, [DeviceInfo("river-1", "riverside", "water")])
    first = sensor_ticket(city, Reading("river-1", "water_level", 3.0, T0_MS), "riverside")
    policy_of(city).resolve_quiet(T0 + timedelta(hours=1))
    second = sensor_ticket(city, Reading("river-1", "water_level", 3.0, T0_MS + 7_200_000), "riverside")
    assert first.ticket_id != second.ticket_id
    token = create_key(city.sessions, name="ops", scopes=["tickets:write"]).key

    with TestClient(create_app(settings)) as client:
        response = client.post(
            f"/api/v1/tickets/{first.ticket_id}/reopen", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 409
    assert "a newer ticket for the same incident is open" in response.json()["detail"]

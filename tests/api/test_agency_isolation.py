"""Object-level authorisation (OWASP API1): an agency's key reads and changes only its agency's things.

On SQLite and PostgreSQL. The environment agency leaves traces of every kind (an internal comment
on its ticket, a webhook, a key of its own); the water agency's key must not see one of them,
through the audit log or any other route.
"""

from __future__ import annotations

import pytest

from citysense.keys import create_key
from citysense.settings import ApiSettings
from citysense.wire import Reading
from tests.api.support import key, sensor_ticket

SECRET_NOTE = "internal: the env crew lead is on leave"
ENV_HOOK = "https://env-agency.example/hooks/citysense"
ENV_KEY = "env-night-shift"


@pytest.fixture
def settings(settings: ApiSettings, tickets_url: str) -> ApiSettings:
    return settings.model_copy(update={"tickets_url": tickets_url})


@pytest.fixture
def two_agencies(city, client):
    city.devices(("river-1", "riverside", "water"), ("air-1", "riverside", "air"))
    flood = sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_700_000_000_000), "riverside")
    air = sensor_ticket(city, Reading("air-1", "pm25", 80.0, 1_700_000_000_000), "riverside")
    env = key(city, "tickets:write", "tickets:read", "webhooks:manage", "audit:read", agency="environment")
    assert client.post(
        f"/api/v1/tickets/{air.ticket_id}/comment", json={"message": SECRET_NOTE}, headers=env
    ).is_success
    created = client.post("/api/v1/webhooks", json={"url": ENV_HOOK}, headers=env)
    assert created.status_code == 201, created.text
    create_key(city.sessions, name=ENV_KEY, scopes=["tickets:read"], agency="environment")
    water = key(
        city, "tickets:read", "tickets:write", "audit:read", "webhooks:manage", "anomalies:read", agency="water"
    )
    assert client.post(f"/api/v1/tickets/{flood.ticket_id}/acknowledge", headers=water).status_code == 200
    return flood, air, water, env, created.json()["id"]


def test_agency_key_reads_only_its_agency_audit_entries(client, two_agencies):
    flood, air, water, env, _ = two_agencies
    seen = client.get("/api/v1/audit", params={"limit": 1000}, headers=water).json()
    text = str(seen)
    assert SECRET_NOTE not in text
    assert ENV_HOOK not in text
    assert ENV_KEY not in text
    assert {(e["target_type"], e["target_id"]) for e in seen["data"]} >= {("ticket", str(flood.ticket_id))}
    others = [e for e in seen["data"] if e["target_type"] == "ticket" and e["target_id"] == str(air.ticket_id)]
    assert others == []  # 0 cross-agency reads
    assert seen["count"] == len(seen["data"])

    env_seen = client.get("/api/v1/audit", params={"limit": 1000}, headers=env).json()
    env_view = str(env_seen)
    assert SECRET_NOTE in env_view
    assert ENV_HOOK in env_view
    assert ENV_KEY in env_view
    env_tickets = {e["target_id"] for e in env_seen["data"] if e["target_type"] == "ticket"}
    assert env_tickets == {str(air.ticket_id)}


def test_agency_key_reaches_no_other_agency_object_on_any_route(client, two_agencies):
    flood, air, water, _, env_hook = two_agencies
    assert client.get(f"/api/v1/tickets/{air.ticket_id}", headers=water).status_code == 404
    assert client.get(f"/api/v1/tickets/{air.ticket_id}/audit", headers=water).status_code == 404
    for action in ("acknowledge", "resolve", "reopen"):
        assert client.post(f"/api/v1/tickets/{air.ticket_id}/{action}", headers=water).status_code == 404
    assert (
        client.post(f"/api/v1/tickets/{air.ticket_id}/comment", json={"message": "x"}, headers=water).status_code == 404
    )
    assign = {"assignee": "crew"}
    assert client.post(f"/api/v1/tickets/{air.ticket_id}/assign", json=assign, headers=water).status_code == 404
    assert client.get("/api/v1/tickets", params={"agency": "environment"}, headers=water).status_code == 403
    assert [t["id"] for t in client.get("/api/v1/tickets", headers=water).json()["data"]] == [flood.ticket_id]
    assert all(a["ticket_id"] != air.ticket_id for a in client.get("/api/v1/anomalies", headers=water).json()["data"])
    assert ENV_HOOK not in client.get("/api/v1/webhooks", headers=water).text
    assert client.delete(f"/api/v1/webhooks/{env_hook}", headers=water).status_code == 404


def test_anomalies_are_filtered_and_paged_in_the_database(city, client):
    city.devices(("river-1", "riverside", "water"), ("river-2", "harbour", "water"), ("air-1", "riverside", "air"))
    sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_700_000_000_000), "riverside")
    sensor_ticket(city, Reading("river-2", "water_level", 3.1, 1_700_000_000_000), "harbour")
    sensor_ticket(city, Reading("air-1", "pm25", 80.0, 1_700_000_000_000), "riverside")
    reader = key(city, "anomalies:read")
    one = client.get("/api/v1/anomalies", params={"device_id": "river-2"}, headers=reader).json()
    assert one["count"] == 1
    assert [a["device_id"] for a in one["data"]] == ["river-2"]
    page = client.get("/api/v1/anomalies", params={"limit": 1, "offset": 1}, headers=reader).json()
    assert page["count"] == 3
    assert [a["device_id"] for a in page["data"]] == ["river-2"]  # newest first: air-1, river-2, river-1
    water = key(city, "anomalies:read", agency="water")
    assert client.get("/api/v1/anomalies", headers=water).json()["count"] == 2

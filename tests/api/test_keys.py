"""Operator credentials: keys created by the CLI, hashed at rest, scoped, revocable, limited to an agency."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from citysense.keys import create_key, revoke_key
from citysense.wire import Reading
from launcher.cli import app as cli
from tests.api.support import key, sensor_ticket


def test_cli_creates_a_key_that_is_stored_only_as_a_hash(settings, client, monkeypatch):
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(
        cli, ["keys", "create", "--scope", "tickets:read", "--scope", "devices:read", "--name", "night shift"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    assert secret.startswith("cs_")

    db = settings.tickets_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert secret not in dump  # hashed at rest
    assert secret.split("_", 2)[2] not in dump

    ok = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200
    also_header = client.get("/api/v1/devices", headers={"X-API-Key": secret})
    assert also_header.status_code == 200
    listed = CliRunner().invoke(cli, ["keys", "list"])
    assert "night shift" in listed.stdout
    assert "devices:read tickets:read" in listed.stdout  # in the catalogue's order


def test_cli_refuses_unknown_scope_or_agency_with_a_clear_error(settings, monkeypatch):
    monkeypatch.setenv("CITYSENSE_DATA_DIR", str(settings.data_dir))
    bad_scope = CliRunner().invoke(cli, ["keys", "create", "--scope", "tickets:destroy"])
    assert bad_scope.exit_code == 1
    assert "unknown scope(s) tickets:destroy" in bad_scope.stderr
    bad_agency = CliRunner().invoke(cli, ["keys", "create", "--scope", "tickets:read", "--agency", "police"])
    assert bad_agency.exit_code == 1
    assert "unknown agency 'police'" in bad_agency.stderr


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tickets",
        "/api/v1/devices",
        "/api/v1/anomalies",
        "/api/v1/audit",
        "/api/v1/readings?device_id=a&quantity=pm25",
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cs_0123456789ab_nope"}, {"X-API-Key": "junk"}])
def test_no_valid_key_is_401(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert "citysense keys create" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/api/v1/tickets", "tickets:read"),
        ("GET", "/api/v1/devices", "devices:read"),
        ("GET", "/api/v1/anomalies", "anomalies:read"),
        ("GET", "/api/v1/audit", "audit:read"),
        ("GET", "/api/v1/readings?device_id=a&quantity=pm25", "readings:read"),
        ("POST", "/api/v1/tickets/1/acknowledge", "tickets:write"),
        ("POST", "/api/v1/webhooks", "webhooks:manage"),
    ],
)
def test_wrong_scope_is_403_naming_the_missing_scope(city, client, method, path, needs):
    other = "devices:read" if needs != "devices:read" else "tickets:read"
    response = client.request(method, path, headers=key(city, other), json={"url": "http://127.0.0.1:9/x"})
    assert response.status_code == 403
    assert f"lacks the '{needs}' scope" in response.json()["detail"]


def test_revoked_key_is_refused(city, client):
    created = create_key(city.sessions, name="temp", scopes=["tickets:read"])
    headers = {"Authorization": f"Bearer {created.key}"}
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200
    assert revoke_key(city.sessions, created.id)
    assert client.get("/api/v1/tickets", headers=headers).status_code == 401
    assert not revoke_key(city.sessions, created.id)  # already revoked


def test_agency_key_sees_and_changes_only_its_agency_tickets(city, client):
    city.devices(("river-1", "riverside", "water"), ("air-1", "riverside", "air"))
    flood = sensor_ticket(city, Reading("river-1", "water_level", 3.0, 1_700_000_000_000), "riverside")
    air = sensor_ticket(city, Reading("air-1", "pm25", 80.0, 1_700_000_000_000), "riverside")
    assert flood is not None
    assert air is not None
    water = key(city, "tickets:read", "tickets:write", agency="water")

    listed = client.get("/api/v1/tickets", headers=water).json()
    assert [t["id"] for t in listed["data"]] == [flood.ticket_id]
    assert listed["data"][0]["agency"] == "water"
    assert client.get("/api/v1/tickets", params={"agency": "environment"}, headers=water).status_code == 403
    assert client.get(f"/api/v1/tickets/{air.ticket_id}", headers=water).status_code == 404
    assert client.post(f"/api/v1/tickets/{air.ticket_id}/acknowledge", headers=water).status_code == 404
    assert client.post(f"/api/v1/tickets/{flood.ticket_id}/acknowledge", headers=water).status_code == 200

    everyone = key(city, "tickets:read")
    by_agency = client.get("/api/v1/tickets", params={"agency": "environment"}, headers=everyone).json()
    assert [t["id"] for t in by_agency["data"]] == [air.ticket_id]

"""Maintenance windows through the operator API and `citysense maintenance`, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from analytics.findings import Finding
from api.app import create_app
from citysense.db import connect
from citysense.settings import ApiSettings
from citysense.wire import Reading
from launcher.cli import app as cli
from tests.api.support import key, policy_of, sensor_ticket


@pytest.fixture
def db_settings(settings: ApiSettings, tickets_url: str) -> ApiSettings:
    return settings.model_copy(update={"tickets_url": tickets_url})


@pytest.fixture
def api(db_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(db_settings)) as client:
        yield client


class _Db:
    def __init__(self, url: str) -> None:
        self.sessions = connect(url)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_an_operator_plans_lists_and_ends_a_window_and_each_step_is_audited(api, tickets_url):
    db = _Db(tickets_url)
    writer = key(db, "tickets:read", "tickets:write", "audit:read")
    now = datetime.now(UTC)
    planned = api.post(
        "/api/v1/maintenance",
        headers=writer,
        json={
            "district": "riverside",
            "service_code": "flood",
            "starts_at": _iso(now - timedelta(minutes=5)),
            "ends_at": _iso(now + timedelta(hours=2)),
            "reason": "dredging the river",
        },
    )
    assert planned.status_code == 201, planned.text
    window = planned.json()
    assert window["state"] == "active"
    assert window["district"] == "riverside"
    assert window["created_by"].startswith("key:")

    listed = api.get("/api/v1/maintenance", headers=writer).json()
    assert [w["id"] for w in listed["data"]] == [window["id"]]
    assert listed["count"] == 1

    ended = api.post(f"/api/v1/maintenance/{window['id']}/end", headers=writer)
    assert ended.status_code == 200
    assert ended.json()["state"] == "ended"
    assert api.get("/api/v1/maintenance", headers=writer).json()["count"] == 0
    assert [w["state"] for w in api.get("/api/v1/maintenance?state=all", headers=writer).json()["data"]] == ["ended"]
    again = api.post(f"/api/v1/maintenance/{window['id']}/end", headers=writer)
    assert again.status_code == 409
    assert "already ended" in again.json()["detail"]

    actions = [e["action"] for e in api.get("/api/v1/audit", headers=writer).json()["data"]]
    assert actions[:2] == ["maintenance.end", "maintenance.add"]


def test_a_window_planned_through_the_api_holds_back_the_tickets_it_covers(api, tickets_url):
    db = _Db(tickets_url)
    writer = key(db, "tickets:write")
    now = datetime.now(UTC)
    response = api.post(
        "/api/v1/maintenance",
        headers=writer,
        json={
            "district": "riverside",
            "starts_at": _iso(now - timedelta(minutes=1)),
            "ends_at": _iso(now + timedelta(hours=1)),
        },
    )
    assert response.status_code == 201
    policy = policy_of(db)
    policy.refresh_maintenance(now)
    time_ms = int(time.time() * 1000)
    held = policy.observe(
        Finding(
            service_code="flood",
            scope="district",
            kind="breach",
            district="riverside",
            device_id="river-01",
            quantity="water_level",
            value=3.1,
            threshold=2.5,
            severity="high",
            detector="threshold",
            score=1.2,
            time_ms=time_ms,
            title="Flood risk in riverside",
        )
    )
    assert held is None
    assert policy.suppressed == 1
    # Another district is not covered: its ticket opens.
    assert sensor_ticket(db, Reading("river-09", "water_level", 3.1, time_ms), "old-town").ticket_id > 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"}, "must end after it starts"),
        ({"starts_at": "2020-01-01T10:00:00Z", "ends_at": "2020-01-01T11:00:00Z"}, "already ended"),
        ({"starts_at": "2030-01-01T10:00:00", "ends_at": "2030-01-01T11:00:00Z"}, "timezone"),
        ({"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T11:00:00Z", "service_code": "lava"}, "lava"),
    ],
)
def test_a_window_that_makes_no_sense_is_refused_with_a_reason(api, tickets_url, body, message):
    writer = key(_Db(tickets_url), "tickets:write")
    response = api.post("/api/v1/maintenance", headers=writer, json=body)
    assert response.status_code == 422
    assert message in response.text


def test_scopes_and_agencies_decide_who_may_plan_what(api, tickets_url):
    db = _Db(tickets_url)
    span = {"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T11:00:00Z"}
    assert api.get("/api/v1/maintenance").status_code == 401
    reader = key(db, "tickets:read")
    assert api.post("/api/v1/maintenance", headers=reader, json=span).status_code == 403
    water = key(db, "tickets:write", agency="water")
    assert api.post("/api/v1/maintenance", headers=water, json=span).status_code == 403  # the whole city
    assert api.post("/api/v1/maintenance", headers=water, json=span | {"service_code": "noise"}).status_code == 403
    mine = api.post("/api/v1/maintenance", headers=water, json=span | {"service_code": "drainage"})
    assert mine.status_code == 201
    everyone = key(db, "tickets:write")
    theirs = api.post("/api/v1/maintenance", headers=everyone, json=span | {"service_code": "noise"}).json()
    assert api.post(f"/api/v1/maintenance/{theirs['id']}/end", headers=water).status_code == 403
    assert api.post(f"/api/v1/maintenance/{mine.json()['id']}/end", headers=water).json()["state"] == "ended"
    assert api.post("/api/v1/maintenance/999999/end", headers=everyone).status_code == 404


def test_the_cli_adds_lists_and_ends_windows(tickets_url, monkeypatch):
    monkeypatch.setenv("CITYSENSE_TICKETS_URL", tickets_url)
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "maintenance",
            "add",
            "--from",
            "2030-01-01T10:00:00",
            "--to",
            "2030-01-01T12:00:00",
            "--device",
            "river-01",
            "--reason",
            "new battery",
            "--actor",
            "ana",
        ],
    )
    assert added.exit_code == 0, added.output
    window_id = int(added.output.split("\t")[0])
    assert "scheduled" in added.output
    assert "device=river-01" in added.output
    listed = runner.invoke(cli, ["maintenance", "list"])
    assert listed.exit_code == 0
    assert f"{window_id}\tscheduled" in listed.output
    assert "new battery" in listed.output
    ended = runner.invoke(cli, ["maintenance", "end", str(window_id)])
    assert ended.exit_code == 0
    assert "ended" in ended.output
    assert str(window_id) not in runner.invoke(cli, ["maintenance", "list"]).output
    assert f"{window_id}\tended" in runner.invoke(cli, ["maintenance", "list", "--all"]).output
    bad = runner.invoke(cli, ["maintenance", "add", "--from", "2030-01-01T10:00:00", "--to", "2030-01-01T09:00:00"])
    assert bad.exit_code == 1
    assert "must end after it starts" in bad.output
    missing = runner.invoke(cli, ["maintenance", "end", "4242"])
    assert missing.exit_code == 1
    assert "no maintenance window 4242" in missing.output

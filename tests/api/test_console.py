"""The operators' console over HTTP: sign-in, sessions, CSRF, scopes and agencies, and every form's effect."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from analytics.findings import Finding
from api.app import create_app
from citysense.db.models import ApiKey, AuditEntry
from citysense.keys import revoke_key
from citysense.users import add_user, disable_user
from citysense.wire import Reading
from ingest.fleet_status import NodeStatus, record
from simulators.city import build_fleet
from tests.api.support import key, policy_of, sensor_ticket

PASSWORD = "correct horse battery"


@pytest.fixture
def console(settings, city) -> Iterator[TestClient]:
    """The app over HTTPS (the session cookie is Secure), not following redirects."""
    loopback_hooks = settings.model_copy(update={"webhook_allowed_networks": ["127.0.0.0/8"]})
    with TestClient(create_app(loopback_hooks), base_url="https://testserver", follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, city, role: str = "operator", *, agency: str | None = None, name: str = "ana") -> str:
    add_user(city.sessions, username=name, password=PASSWORD, role=role, agency=agency)
    response = client.post("/console/login", data={"username": name, "password": PASSWORD, "next": "/console"})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def flood(city, district: str = "sungai-barat", device: str = "river-01") -> int:
    now = int(time.time() * 1000)
    city.readings(Reading(device, "water_level", 3.2, now))
    return sensor_ticket(city, Reading(device, "water_level", 3.2, now), district).ticket_id


def smog(city, district: str = "kota-lama") -> int:
    now = int(time.time() * 1000)
    return sensor_ticket(city, Reading("air-01", "pm25", 80.0, now), district).ticket_id


def test_pages_need_a_session_and_the_cookie_is_locked_down(console, city):
    response = console.get("/console?district=kota-lama")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%3Fdistrict%3Dkota-lama"
    add_user(city.sessions, username="ana", password=PASSWORD, role="viewer")
    wrong = console.post("/console/login", data={"username": "ana", "password": "not it at all"})
    assert wrong.status_code == 401
    assert "wrong username or password" in wrong.text
    ok = console.post("/console/login", data={"username": "ana", "password": PASSWORD, "next": "/console/devices"})
    assert ok.status_code == 303
    assert ok.headers["location"] == "/console/devices"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "secure" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    page = console.get("/console")
    assert page.status_code == 200
    assert "Ticket queue" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # scripts only as files, as the CSP demands


def test_an_api_key_signs_in_with_its_own_scopes_and_a_revoked_key_is_signed_out(console, city):
    headers = key(city, "tickets:read")
    api_key = headers["Authorization"].removeprefix("Bearer ")
    assert console.post("/console/login", data={"api_key": api_key}).status_code == 303
    page = console.get("/console")
    assert page.status_code == 200
    assert "Devices" not in page.text  # no devices:read, no devices menu
    assert console.get("/console/devices").status_code == 403
    with city.sessions() as session:
        key_id = session.scalars(select(ApiKey.id)).one()
    revoke_key(city.sessions, key_id)
    assert console.get("/console").status_code == 303


def test_changes_need_the_session_csrf_token_and_our_own_origin(console, city):
    ticket_id = flood(city)
    csrf = sign_in(console, city)
    missing = console.post(f"/console/tickets/{ticket_id}/acknowledge", data={})
    assert missing.status_code == 403
    assert "form has expired" in missing.text
    forged = console.post(
        f"/console/tickets/{ticket_id}/acknowledge", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    done = console.post(f"/console/tickets/{ticket_id}/acknowledge", data={"csrf": csrf})
    assert done.status_code == 303


def test_an_operator_works_a_ticket_through_every_action_and_each_is_audited(console, city, client):
    ticket_id = flood(city)
    csrf = sign_in(console, city)
    page = console.get(f"/console/tickets/{ticket_id}").text
    assert "Evidence" in page
    assert '<svg class="chart"' in page
    assert "threshold" in page
    steps = [
        ("acknowledge", {"note": "crew on the way"}),
        ("assign", {"assignee": "water", "expected_completion_at": "2030-01-01T10:00"}),
        ("comment", {"message": "pump 3 is down", "visibility": "internal"}),
        ("comment", {"message": "Crews are pumping the river.", "visibility": "public"}),
        ("resolve", {"note": "water receded"}),
        ("reopen", {"note": "rising again"}),
    ]
    for action, form in steps:
        response = console.post(f"/console/tickets/{ticket_id}/{action}", data={"csrf": csrf, **form})
        assert response.status_code == 303, response.text
        assert "notice=" in response.headers["location"]
    page = console.get(f"/console/tickets/{ticket_id}").text
    assert 'id="ticket-status">open<' in page
    assert "pump 3 is down" in page
    assert "internal" in page
    with city.sessions() as session:
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "user:ana", AuditEntry.target_type == "ticket")
        ).all()
    assert audited == ["ticket." + a for a, _ in steps]
    public = client.get(f"/public/v1/tickets/{ticket_id}").json()
    messages = [step["message"] for step in public["timeline"]]
    assert "Crews are pumping the river." in messages
    assert "pump 3 is down" not in messages
    # Not allowed now: resolving twice says why instead of failing.
    console.post(f"/console/tickets/{ticket_id}/resolve", data={"csrf": csrf})
    twice = console.post(f"/console/tickets/{ticket_id}/resolve", data={"csrf": csrf})
    assert "cannot+resolve+a+ticket+that+is+resolved" in twice.headers["location"]


def test_a_viewer_sees_no_forms_and_may_not_act(console, city):
    ticket_id = flood(city)
    csrf = sign_in(console, city, "viewer")
    page = console.get(f"/console/tickets/{ticket_id}").text
    assert "Acknowledge" not in page
    assert "Actions" not in page
    assert console.post(f"/console/tickets/{ticket_id}/acknowledge", data={"csrf": csrf}).status_code == 403
    assert "Plan a window" not in console.get("/console/maintenance").text
    assert console.get("/console/admin").status_code == 403


def test_an_agency_user_sees_only_its_agency_tickets(console, city):
    water = flood(city)
    air = smog(city)
    sign_in(console, city, agency="water")
    page = console.get("/console").text
    assert f"/console/tickets/{water}" in page
    assert f"/console/tickets/{air}" not in page
    assert console.get(f"/console/tickets/{air}").status_code == 404
    asked = console.get("/console?agency=environment").text  # asking for another agency shows nothing of it
    assert f"/console/tickets/{air}" not in asked
    assert "0 tickets" in asked


def test_the_queue_filters_sorts_and_counts(console, city):
    flood(city)
    flood(city, "kota-lama", "river-02")
    smog(city)
    sign_in(console, city)
    page = console.get("/console").text
    assert "3 tickets" in page
    assert re.search(r'value="sungai-barat"[^>]*>[^<]*\(1\)', page)
    assert re.search(r'value="flood"[^>]*>[^<]*\(2\)', page)
    floods = console.get("/console?service_code=flood&sort=oldest").text
    assert "2 tickets" in floods
    # Faceted: with service=flood chosen, the service menu still counts air quality.
    assert re.search(r'value="air_quality"[^>]*>[^<]*\(1\)', floods)
    assert re.search(r'value="kota-lama"[^>]*>[^<]*\(1\)', floods)
    assert re.search(r'value="water"[^>]*>[^<]*\(2\)', floods)
    assert re.search(r'value="environment"[^>]*>[^<]*\(0\)', floods)
    water = console.get("/console?agency=water").text
    assert "2 tickets" in water
    assert re.search(r'value="environment"[^>]*>[^<]*\(1\)', water)  # what choosing it instead would show
    assert "1 ticket" in console.get("/console?district=kota-lama&service_code=flood").text
    assert "0 tickets" in console.get("/console?source=resident").text
    fragment = console.get("/console?fragment=1")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "3 tickets" in fragment.text
    assert console.get("/console?status=bogus").status_code == 422


def test_maintenance_windows_from_the_console(console, city):
    csrf = sign_in(console, city)
    planned = console.post(
        "/console/maintenance",
        data={"csrf": csrf, "district": "kota-lama", "service_code": "flood", "starts_at": "2030-01-01T08:00",
              "ends_at": "2030-01-01T12:00", "reason": "new gauge"},
    )  # fmt: skip
    assert planned.status_code == 303
    assert "planned" in planned.headers["location"]
    page = console.get("/console/maintenance").text
    assert "new gauge" in page
    assert "scheduled" in page
    window_id = int(re.search(r"/console/maintenance/(\d+)/end", page).group(1))
    ended = console.post(f"/console/maintenance/{window_id}/end", data={"csrf": csrf})
    assert "ended" in ended.headers["location"]
    assert "new gauge" not in console.get("/console/maintenance").text
    backwards = console.post(
        "/console/maintenance", data={"csrf": csrf, "starts_at": "2030-01-01T08:00", "ends_at": "2030-01-01T07:00"}
    )
    assert "must+end+after+it+starts" in backwards.headers["location"]


def test_devices_show_health_open_tickets_and_a_grafana_link(settings, city):
    from tests.api.support import seed_default_city

    seed_default_city(city)
    gauge = next(d.device_id for d in build_fleet() if d.district == "sungai-barat" and "water_level" in d.quantities)
    ticket_id = flood(city, "sungai-barat", gauge)
    record(city.sessions, NodeStatus(gauge, "online", datetime.now(UTC), "0.3.1", 17, 64.0))
    with TestClient(
        create_app(settings.model_copy(update={"grafana_url": "https://grafana.city.example/"})),
        base_url="https://testserver",
        follow_redirects=False,
    ) as console:
        sign_in(console, city)
        page = console.get("/console/devices").text
        assert f'href="/console/tickets/{ticket_id}"' in page
        assert "https://grafana.city.example/d/citysense-devices?var-district=" in page
        assert "h-ok" in page
        row = re.search(rf"<tr>\s*<td>{gauge}</td>.*?</tr>", page, re.S).group(0)
        assert "0.3.1" in row
        assert "64 %" in row
        assert "<td>17</td>" in row
        city.devices(("river-99", "kota-lama", "river_gauge"))
        never = console.get("/console/devices?health=never_seen").text
        assert "river-99" in never
        assert "1 device" in never


def test_admins_manage_keys_and_webhooks(console, city):
    csrf = sign_in(console, city, "admin")
    created = console.post(
        "/console/admin/keys", data={"csrf": csrf, "name": "dispatch", "scope": ["tickets:read"], "agency": "water"}
    )
    assert created.status_code == 200
    shown = re.search(r'id="new-key" readonly value="(cs_[^"]+)"', created.text).group(1)
    assert "dispatch" in created.text
    assert console.get("/console/admin").text.count(shown) == 0  # shown once
    key_id = int(re.search(r"/console/admin/keys/(\d+)/revoke", created.text).group(1))
    assert "revoked" in console.post(f"/console/admin/keys/{key_id}/revoke", data={"csrf": csrf}).headers["location"]
    hook = console.post("/console/admin/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/tickets"})
    assert hook.status_code == 200
    assert 'id="new-secret"' in hook.text
    hook_id = int(re.search(r"/console/admin/webhooks/(\d+)/delete", hook.text).group(1))
    assert (
        "removed" in console.post(f"/console/admin/webhooks/{hook_id}/delete", data={"csrf": csrf}).headers["location"]
    )
    bad = console.post("/console/admin/webhooks", data={"csrf": csrf, "url": "not a url"})
    assert bad.status_code == 303
    assert "notice=" in bad.headers["location"]
    with city.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "user:ana")).all())
    assert {"key.create", "key.revoke", "webhook.create", "webhook.delete"} <= actions


def test_disabling_a_user_ends_their_session_and_sign_out_works(console, city):
    csrf = sign_in(console, city)
    assert console.get("/console").status_code == 200
    out = console.post("/console/logout", data={"csrf": csrf})
    assert out.status_code == 303
    assert console.get("/console").status_code == 303
    console.post("/console/login", data={"username": "ana", "password": PASSWORD})
    assert console.get("/console").status_code == 200
    disable_user(city.sessions, "ana")
    assert console.get("/console").status_code == 303


def test_one_address_cannot_guess_fast(console, city):
    add_user(city.sessions, username="ana", password=PASSWORD, role="viewer")
    codes = []
    while 429 not in codes and len(codes) < 40:
        codes.append(console.post("/console/login", data={"username": f"u{len(codes)}", "password": "x"}).status_code)
    # A burst of 10 refused passwords, then a try per 5 s: refused without checking any password.
    assert codes.count(401) >= 10
    assert codes[-1] == 429
    assert "try again in" in console.post("/console/login", data={"username": "ana", "password": PASSWORD}).text


def test_an_anomaly_ticket_shows_its_expected_band_and_can_be_confirmed_or_marked_a_false_alarm(console, city):
    now = int(time.time() * 1000)
    city.readings(
        *[Reading("river-07", "water_level", 1.0 + (i == 9) * 2.0, now - (10 - i) * 60_000) for i in range(10)]
    )

    def anomaly(device: str) -> int:
        change = policy_of(city).observe(
            Finding(
                service_code="anomaly", scope="device", kind="anomaly", district="pelabuhan", device_id=device,
                quantity="water_level", value=3.0, threshold=2.0, severity="medium", detector="anomaly:general",
                score=0.999, time_ms=now, title="Unusual readings, inspection needed", public=False,
                evidence={"deviation": 4.2, "expected": {"low": 0.8, "high": 1.3}, "detector_version": "anomaly-2"},
            )
        )  # fmt: skip
        assert change is not None
        return change.ticket_id

    first, second = anomaly("river-07"), anomaly("river-08")
    csrf = sign_in(console, city)
    page = console.get(f"/console/tickets/{first}").text
    assert "expected range" in page
    assert "anomaly-2" in page
    assert "Mark false alarm" in page
    assert "Confirm anomaly" in page
    assert "2 tickets" in console.get("/console?source=anomaly").text
    marked = console.post(f"/console/tickets/{first}/false-alarm", data={"csrf": csrf, "note": "tide"})
    assert "marked+a+false+alarm" in marked.headers["location"]
    page = console.get(f"/console/tickets/{first}").text
    assert 'id="ticket-status">resolved<' in page
    assert "Mark false alarm" not in page
    assert "confirmed" in console.post(f"/console/tickets/{second}/confirm", data={"csrf": csrf}).headers["location"]
    assert "Confirm anomaly" not in console.get(f"/console/tickets/{second}").text
    not_anomaly = console.post(f"/console/tickets/{flood(city)}/false-alarm", data={"csrf": csrf})
    assert "only+anomaly+tickets" in not_anomaly.headers["location"]
    with city.sessions() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "user:ana")).all()
    assert "ticket.false_alarm" in actions
    assert "ticket.confirm" in actions

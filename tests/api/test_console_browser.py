"""The console in a real headless Chromium, against the API served by uvicorn, a real database and broker.

A flood is published through Mosquitto by the simulated gauges, ingest stores it, analytics opens
the ticket; an operator then works it in the console and the resident's public ticket shows the
result. Every console page is checked with axe-core (no serious or critical violations).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from analytics.findings import Finding
from analytics.service import AnalyticsService
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import AnalyticsSettings, ApiSettings, IngestSettings
from citysense.users import add_user
from citysense.wire import Reading
from ingest.service import IngestService
from simulators.city import build_fleet
from simulators.fleet import Fleet
from simulators.scenario import Incident, Scenario
from simulators.signals import SignalModel
from tests.api.support import key, policy_of, sensor_ticket, served
from tests.support.browser import axe_violations, chromium
from tests.support.mqtt import wait_until

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "correct horse battery"
ROUNDS = 24
INTERVAL_S = 5.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


class Site:
    def __init__(self, url: str, settings: ApiSettings, flood_id: int) -> None:
        self.url, self.settings, self.flood_id = url, settings, flood_id
        self.sessions = connect(settings.tickets_url)


@pytest.fixture
def site(broker, tmp_path, tickets_url) -> Iterator[Site]:
    """The simulated city's flood through broker, ingest and analytics; then the API served for real."""
    common: dict[str, Any] = {"data_dir": tmp_path, "broker": broker.settings, "tickets_url": tickets_url}
    devices = build_fleet()
    sessions = connect(tickets_url)
    register_devices(sessions, [DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in devices])
    gauges = [d for d in devices if "water_level" in d.quantities]
    start = time.time() - ROUNDS * INTERVAL_S
    scenario = Scenario(
        name="flood-only",
        incidents=[Incident(kind="flood", district="sungai-barat", start_s=30, duration_s=90, peak=3.4)],
    )
    ingest = IngestService(IngestSettings(**common))
    analytics = AnalyticsService(AnalyticsSettings(**common))
    ingest.start()
    analytics.start()
    fleet = Fleet(gauges, SignalModel(scenario, 7, start), broker.settings, interval_s=INTERVAL_S)
    try:
        fleet.connect()
        fleet.run_rounds(ROUNDS)
        fleet.stop()
        published = ROUNDS * sum(len(d.quantities) for d in gauges)
        wait_until(lambda: analytics.readings_seen >= published, timeout_s=60, what="analytics saw the flood")
        assert ingest.store is not None
        wait_until(lambda: ingest.store.count() >= published, timeout_s=60, what="ingest stored the flood")
    finally:
        analytics.stop()
        ingest.stop()
    settings = ApiSettings(
        **common,
        webhooks_enabled=False,
        console_secure_cookie=False,
        grafana_url="https://grafana.city.example",
        webhook_allowed_networks=["127.0.0.0/8"],
    )
    with served(settings) as url:
        tickets = httpx.get(f"{url}/public/v1/tickets", params={"status": "open"}).json()["data"]
        floods = [t["id"] for t in tickets if t["service_code"] == "flood" and t["district"] == "sungai-barat"]
        assert len(floods) == 1, tickets
        add_user(sessions, username="ana", password=PASSWORD, role="operator")
        add_user(sessions, username="root", password=PASSWORD, role="admin")
        yield Site(url, settings, floods[0])


def sign_in(page: Page, site: Site, username: str) -> None:
    page.goto(site.url + "/console")
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    check_axe(page, "login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Ticket queue")).to_be_visible()


def check_axe(page: Page, name: str) -> None:
    """axe-core on the page as the operator sees it (same cookies, same URL).

    axe is injected as a script tag, which the console's CSP rightly refuses; so it runs in a
    second context that ignores CSP, while the operator's own page keeps enforcing it.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
    context = page.context.browser.new_context(  # type: ignore[union-attr]
        storage_state=page.context.storage_state(), bypass_csp=True, viewport=page.viewport_size
    )
    try:
        checked = context.new_page()
        checked.goto(page.url)
        assert axe_violations(checked) == [], name
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that fails the test on any Content-Security-Policy violation (inline script or handler)."""
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    violations: list[str] = []
    opened.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield opened
    opened.close()
    assert violations == []


def act(page: Page, button: str, status: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator("#ticket-status")).to_have_text(status)
    expect(page.get_by_role("status")).to_be_visible()


@pytest.mark.parametrize("tickets_url", ["postgresql"], indirect=True)
def test_an_operator_resolves_the_flood_from_the_queue_and_the_resident_sees_it(browser, site, page):
    sign_in(page, site, "ana")
    check_axe(page, "queue")
    page.get_by_label("Service").select_option("flood")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#queue-count")).to_have_text("1 ticket")
    page.get_by_role("link", name="Flood risk", exact=False).first.click()
    expect(page.locator("#ticket-status")).to_have_text("open")
    expect(page.locator("svg.chart path.line").first).to_be_visible()  # the readings window, drawn by the server
    check_axe(page, "ticket")

    page.get_by_label("Note (optional)").fill("crew on the way")
    act(page, "Acknowledge", "acknowledged")
    page.get_by_label("Assign to agency").select_option("water")
    act(page, "Assign", "assigned")
    page.get_by_label("Comment", exact=True).fill("Pump 3 is down, using the spare.")
    act(page, "Add comment", "assigned")
    page.get_by_label("Comment", exact=True).fill("Crews are pumping the river at Sungai Barat.")
    page.get_by_label("public (on the resident's ticket page)").check()
    act(page, "Add comment", "assigned")
    page.get_by_label("Resolution note").fill("Water back below the flood level.")
    act(page, "Resolve", "resolved")
    check_axe(page, "ticket-resolved")

    public = httpx.get(f"{site.url}/public/v1/tickets/{site.flood_id}").json()
    assert public["status"] == "resolved"
    messages = " ".join(step["message"] for step in public["timeline"])
    assert "Crews are pumping the river" in messages
    assert "Water back below the flood level." in messages
    assert "Pump 3" not in messages  # internal stays internal

    act(page, "Reopen", "open")
    assert httpx.get(f"{site.url}/public/v1/tickets/{site.flood_id}").json()["status"] == "open"


@pytest.mark.parametrize("tickets_url", ["sqlite"], indirect=True)
def test_new_tickets_appear_in_the_queue_without_reloading(site, page):
    sign_in(page, site, "ana")
    before = page.locator("table.queue tbody tr").count()
    marker = page.evaluate("() => { window.notReloaded = true; return true; }")
    assert marker
    now = int(time.time() * 1000)
    fresh = sensor_ticket(site, Reading("air-x", "pm25", 90.0, now), "kota-lama")
    expect(page.locator(f'a[href="/console/tickets/{fresh.ticket_id}"]')).to_be_visible(timeout=20_000)
    assert page.locator("table.queue tbody tr").count() == before + 1
    assert page.evaluate("() => window.notReloaded === true")
    assert "new tickets since you opened the page" in page.locator("#queue-count").inner_text()


@pytest.mark.parametrize("tickets_url", ["sqlite"], indirect=True)
def test_maintenance_devices_and_admin_pages_work_in_the_browser(browser, site, page):
    sign_in(page, site, "root")
    page.get_by_role("link", name="Maintenance").click()
    check_axe(page, "maintenance")
    page.get_by_label("District").fill("sungai-barat")
    page.get_by_label("Service").select_option("flood")
    page.get_by_label("From (UTC)").fill("2030-01-01T08:00")
    page.get_by_label("To (UTC)").fill("2030-01-01T12:00")
    page.get_by_label("Reason").fill("dredging the river")
    page.get_by_role("button", name="Plan window").click()
    expect(page.get_by_role("status")).to_contain_text("planned")
    row = page.locator("tr", has_text="dredging the river")
    expect(row).to_contain_text("scheduled")
    row.get_by_role("button").click()
    expect(page.get_by_role("status")).to_contain_text("ended")
    expect(page.locator("tr", has_text="dredging the river")).to_have_count(0)

    page.get_by_role("link", name="Devices").click()
    expect(page.get_by_role("heading", name="Devices")).to_be_visible()
    check_axe(page, "devices")
    flooded = page.locator("tr", has_text="sungai-barat").filter(has=page.locator('a[href^="/console/tickets/"]'))
    expect(flooded.first).to_be_visible()
    assert page.locator('a[href^="https://grafana.city.example/d/citysense-devices"]').count() > 0

    page.get_by_role("link", name="Keys and webhooks").click()
    check_axe(page, "admin")
    page.get_by_label("Name", exact=True).fill("dispatch")
    page.get_by_label("tickets:read: the ticket queue and each ticket's audit trail").check()
    page.get_by_role("button", name="Create key").click()
    created = page.get_by_label("Key", exact=True).input_value()
    assert created.startswith("cs_")
    page.get_by_role("button", name="Revoke key 1").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/tickets")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_label("Secret", exact=True)).to_be_visible()
    page.get_by_role("button", name="Remove webhook 1").click()
    expect(page.get_by_role("status")).to_contain_text("removed")

    # A revoked key cannot sign in; a live one signs in with its own scopes (no admin menu).
    other = browser.new_page()
    other.goto(site.url + "/console/login")
    other.get_by_label("API key").fill(created)
    other.get_by_role("button", name="Sign in with key").click()
    expect(other.get_by_role("alert")).to_contain_text("unknown or revoked")
    reader = key(site, "tickets:read")["Authorization"].removeprefix("Bearer ")
    other.get_by_label("API key").fill(reader)
    other.get_by_role("button", name="Sign in with key").click()
    expect(other.get_by_role("heading", name="Ticket queue")).to_be_visible()
    assert other.get_by_role("link", name="Keys and webhooks").count() == 0
    other.get_by_role("button", name="Sign out").click()
    expect(other.get_by_role("heading", name="Sign in to the console")).to_be_visible()


@pytest.mark.parametrize("tickets_url", ["sqlite"], indirect=True)
def test_anomaly_tickets_map_and_sort_in_the_browser(site, page):
    now = int(time.time() * 1000)
    opened = []
    for device in ("pelabuhan-water-01", "pelabuhan-water-02"):
        change = policy_of(site).observe(
            Finding(
                service_code="anomaly", scope="device", kind="anomaly", district="pelabuhan", device_id=device,
                quantity="water_level", value=3.0, threshold=2.0, severity="medium", detector="anomaly:general",
                score=0.999, time_ms=now, title="Unusual readings, inspection needed", public=False,
                evidence={"deviation": 4.2, "expected": {"low": 0.8, "high": 1.3}},
            )
        )  # fmt: skip
        assert change is not None
        opened.append(change.ticket_id)
    sign_in(page, site, "ana")
    page.get_by_label("Sort", exact=True).select_option("oldest")
    page.get_by_role("button", name="Apply").click()
    first_row = page.locator("table.queue tbody tr").first
    expect(first_row).to_contain_text(str(site.flood_id))  # the flood came first
    page.locator('svg.map a[aria-label^="Pelabuhan"]').click()  # the map filters by district
    expect(page.locator("#queue-count")).to_have_text("2 tickets")
    page.get_by_label("Source", exact=True).select_option("anomaly")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#queue-count")).to_have_text("2 tickets")
    page.get_by_role("link", name="Unusual readings, inspection needed").first.click()
    ticket_id = int(page.url.rsplit("/", 1)[1])
    assert ticket_id in opened
    check_axe(page, "anomaly")
    page.get_by_label("Why it is normal (optional)").fill("the tide")
    act(page, "Mark false alarm", "resolved")
    expect(page.get_by_role("button", name="Mark false alarm")).to_have_count(0)
    other = next(t for t in opened if t != ticket_id)
    page.goto(f"{site.url}/console/tickets/{other}")
    act(page, "Confirm anomaly", "open")
    expect(page.get_by_role("button", name="Confirm anomaly")).to_have_count(0)

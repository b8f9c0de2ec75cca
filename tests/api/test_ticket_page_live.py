"""End to end: a ticket event on the broker reaches a ticket page open in a real Chromium within 5 s.

The API caches public responses for a minute here, so only the event (which drops the cache) can
bring the change in time; the page refreshes itself from a script file, not a meta refresh.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from analytics.findings import Finding
from api.app import create_app
from citysense import wire
from tests.api.support import key, policy_of, sensor_ticket, served
from tests.support.browser import chromium
from tests.support.mqtt import publish, wait_until
from tests.support.servers import mosquitto

LONG_CACHE_S = 60.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def broker(tmp_path):
    with mosquitto(tmp_path / "broker") as running:
        yield running


def _raise_to_critical(city, ticket_id: int, at_ms: int):
    change = policy_of(city).observe(
        Finding(
            service_code="flood",
            scope="district",
            kind="breach",
            district="sungai-barat",
            device_id="gauge-2",
            quantity="water_level",
            value=3.6,
            threshold=2.5,
            severity="critical",
            detector="threshold",
            score=3.6 / 2.5,
            time_ms=at_ms,
            title="Flood risk in sungai-barat",
        )
    )
    assert change is not None
    assert change.ticket_id == ticket_id
    return change


def test_a_ticket_event_reaches_an_open_ticket_page_within_5_s(settings, city, broker, browser):
    now = int(time.time() * 1000)
    city.devices(("gauge-1", "sungai-barat", "water"), ("gauge-2", "sungai-barat", "water"))
    opened = sensor_ticket(city, wire.Reading("gauge-1", "water_level", 3.0, now), "sungai-barat")
    ticket_id = opened.ticket_id
    live = settings.model_copy(
        update={"broker": broker.settings, "public_cache_s": LONG_CACHE_S, "webhooks_enabled": False}
    )
    with served(live) as url:
        page = browser.new_page(locale="en-GB")
        page.goto(f"{url}/tickets/{ticket_id}?lang=en")
        assert page.locator("#timeline li").count() == 1
        assert page.locator("main").get_attribute("data-live") == "2"

        # Analytics commits a change: the cached page does not know yet.
        change = _raise_to_critical(city, ticket_id, now + 60_000)
        stale = httpx.get(f"{url}/tickets/{ticket_id}?lang=en").text
        assert "Severity raised from high to critical" not in stale

        # ... then publishes the event, as it does after every commit.
        publish(broker.settings, wire.TICKETS_TOPIC, [wire.ticket_event_payload(change.event, change.summary)])
        step = page.locator('#timeline li[data-kind="updated"]')
        step.wait_for(timeout=5_000)  # the target: on the open page within 5 s
        assert "Severity raised from high to critical" in step.inner_text()
        assert page.locator("#timeline li").count() == 2
        # The JSON API and the status page were dropped from the cache by the same event.
        detail = httpx.get(f"{url}/public/v1/tickets/{ticket_id}").json()
        assert detail["severity"] == "critical"
        assert f"#{ticket_id}" in httpx.get(f"{url}/?lang=en").text


def test_junk_on_the_ticket_topic_is_ignored_and_the_next_event_still_refreshes_the_api(settings, city, broker):
    now = int(time.time() * 1000)
    city.devices(("gauge-1", "sungai-barat", "water"), ("gauge-2", "sungai-barat", "water"))
    ticket_id = sensor_ticket(city, wire.Reading("gauge-1", "water_level", 3.0, now), "sungai-barat").ticket_id
    live = settings.model_copy(
        update={"broker": broker.settings, "public_cache_s": LONG_CACHE_S, "webhooks_enabled": False}
    )
    with served(live) as url:
        assert httpx.get(f"{url}/public/v1/tickets").json()["data"][0]["severity"] == "high"  # now cached
        change = _raise_to_critical(city, ticket_id, now + 60_000)
        publish(broker.settings, wire.TICKETS_TOPIC, [b"\xff not json", b'{"event": "opened"}'])
        assert httpx.get(f"{url}/public/v1/tickets").json()["data"][0]["severity"] == "high"  # junk clears nothing
        publish(broker.settings, wire.TICKETS_TOPIC, [wire.ticket_event_payload(change.event, change.summary)])
        wait_until(
            lambda: httpx.get(f"{url}/public/v1/tickets").json()["data"][0]["severity"] == "critical",
            timeout_s=5,
            what="the ticket list to show the raised severity",
        )


def test_an_operator_step_shows_on_the_public_side_at_once_without_waiting_for_the_cache(settings, city):
    now = int(time.time() * 1000)
    city.devices(("gauge-1", "sungai-barat", "water"))
    ticket_id = sensor_ticket(city, wire.Reading("gauge-1", "water_level", 3.0, now), "sungai-barat").ticket_id
    slow = settings.model_copy(
        update={"public_cache_s": LONG_CACHE_S, "webhooks_enabled": False, "ticket_events": False}
    )
    with TestClient(create_app(slow)) as client:
        assert "Acknowledged" not in client.get(f"/tickets/{ticket_id}?lang=en").text  # now cached for a minute
        assert client.get("/public/v1/tickets").json()["data"][0]["status"] == "open"
        refused = client.post(f"/api/v1/tickets/{ticket_id}/resolve", headers=key(city, "tickets:read"), json={})
        assert refused.status_code == 403
        crew = key(city, "tickets:write")
        assert client.post(f"/api/v1/tickets/{ticket_id}/acknowledge", headers=crew, json={}).status_code == 200
        assert client.get("/public/v1/tickets").json()["data"][0]["status"] == "acknowledged"
        page = client.get(f"/tickets/{ticket_id}?lang=en").text
        assert '<span class="state acknowledged" id="state">Acknowledged</span>' in page

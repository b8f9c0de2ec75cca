"""Helpers for the API tests: keys with chosen scopes, a seeded city, the API served for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from analytics.findings import Finding
from analytics.tickets import TicketChange, TicketPolicy
from api.server import ApiServer
from citysense.db.devices import DeviceInfo, register_devices
from citysense.keys import SCOPES, create_key
from citysense.settings import ApiSettings
from citysense.wire import Reading
from simulators.city import build_fleet
from tests.support.servers import free_port, wait_for_port

ALL_SCOPES = list(SCOPES)


def key(city, *scopes: str, agency: str | None = None) -> dict[str, str]:
    """Authorization headers for a new key with these scopes (all of them when none are given)."""
    created = create_key(city.sessions, name="test", scopes=list(scopes) or ALL_SCOPES, agency=agency)
    return {"Authorization": f"Bearer {created.key}"}


def seed_default_city(city, *, pm25: float = 30.0, water: float = 1.2) -> int:
    """The simulated city's fleet in the registry, each sensor with one fresh reading; returns the time (ms)."""
    fleet = build_fleet()
    register_devices(city.sessions, [DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in fleet])
    now = int(time.time() * 1000)
    values = {
        "pm25": pm25,
        "pm10": pm25 * 1.5,
        "water_level": water,
        "temperature": 29.0,
        "humidity": 70.0,
        "noise": 62.0,
    }
    city.readings(*[Reading(d.device_id, q, values.get(q, 1.0), now) for d in fleet for q in d.quantities])
    return now


@contextmanager
def served(settings: ApiSettings) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, as in production; yields its base URL."""
    port = free_port()
    server = ApiServer(settings.model_copy(update={"host": "127.0.0.1", "port": port}))
    server.start()
    try:
        wait_for_port(port, timeout_s=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


_RULES = {"water_level": ("flood", 2.5, "Flood risk"), "pm25": ("air_quality", 55.5, "Unhealthy air")}
_POLICIES: dict[int, TicketPolicy] = {}


def policy_of(city) -> TicketPolicy:
    """The analytics ticket policy on the city's database (one per city, as analytics keeps one)."""
    return _POLICIES.setdefault(id(city.sessions), TicketPolicy(city.sessions, quiet_period_s=600))


def sensor_ticket(city, reading: Reading, district: str) -> TicketChange:
    """What analytics does with a reading over a rule's threshold: open (or update) the incident's ticket."""
    service_code, threshold, title = _RULES[reading.quantity]
    change = policy_of(city).observe(
        Finding(
            service_code=service_code,
            scope="district",
            kind="breach",
            district=district,
            device_id=reading.device_id,
            quantity=reading.quantity,
            value=reading.value,
            threshold=threshold,
            severity="high",
            detector="threshold",
            score=reading.value / threshold,
            time_ms=reading.time_ms,
            title=f"{title} in {district}",
        )
    )
    assert change is not None
    return change


def all_pages(client: TestClient, url: str, headers: dict[str, str] | None = None) -> list[dict]:
    """Follow `Link: rel=next` from `url`; every page's JSON body, in order."""
    pages = []
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        assert response.headers["x-total-count"] == str(response.json()["count"])
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
        if link:
            assert link.endswith('>; rel="next"')
    return pages

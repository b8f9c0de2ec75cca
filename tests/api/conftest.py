"""The API on real SQLite files, seeded through the same interfaces ingest and analytics use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from analytics.findings import Finding
from analytics.rules import default_rules
from analytics.tickets import TicketChange, TicketPolicy
from api.app import create_app
from citysense.db import Device, connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import AnalyticsSettings, ApiSettings
from citysense.timeseries import open_store
from citysense.wire import Reading


class City:
    """Writes what the other services would have written: the registry, readings and tickets."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.sessions = connect(settings.tickets_url)
        analytics = AnalyticsSettings(
            data_dir=settings.data_dir, tickets_url=settings.tickets_url, timeseries_url=settings.timeseries_url
        )
        self.quiet_period_s = analytics.quiet_period_s
        self.rules = default_rules(analytics)
        self.policy = TicketPolicy(self.sessions, quiet_period_s=analytics.quiet_period_s)

    def devices(self, *devices: tuple[str, str, str]) -> None:
        """(device_id, district, kind) triples into the registry."""
        register_devices(self.sessions, [DeviceInfo(*device) for device in devices])

    def readings(self, *readings: Reading) -> int:
        store = open_store(self.settings.timeseries_url)
        try:
            return store.write(readings)
        finally:
            store.close()

    def breach(self, reading: Reading) -> TicketChange | None:
        """What analytics tells the ticket policy about a reading over its rule's threshold."""
        rule = self.rules[reading.quantity]
        assert rule.over(reading.value, rule.threshold), f"{reading} breaches no rule"
        with self.sessions() as session:
            device = session.get(Device, reading.device_id)
        district = device.district if device is not None else "unknown"
        return self.policy.observe(
            Finding(
                service_code=rule.service_code,
                scope=rule.scope,
                kind="breach",
                district=district,
                device_id=reading.device_id,
                quantity=reading.quantity,
                value=reading.value,
                threshold=rule.threshold,
                severity=rule.severity(reading.value, rule.threshold),
                detector=f"rule:{rule.name}",
                score=reading.value / rule.threshold,
                time_ms=reading.time_ms,
                title=rule.title,
            )
        )

    def resolve_quiet(self, now: datetime) -> list[TicketChange]:
        return self.policy.resolve_quiet(now)


OPERATOR_TOKEN = "s3cret"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ApiSettings:
    """Files in tmp_path, nothing from the developer's CITYSENSE_* variables, and an operator token."""
    for name in list(os.environ):
        if name.upper().startswith("CITYSENSE_"):
            monkeypatch.delenv(name)
    return ApiSettings(data_dir=tmp_path / "data", operator_token=OPERATOR_TOKEN)


@pytest.fixture
def auth() -> dict[str, str]:
    """Headers that carry the operator token of `settings`."""
    return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def city(settings: ApiSettings) -> City:
    return City(settings)


@pytest.fixture
def client(settings: ApiSettings, city: City) -> Iterator[TestClient]:
    """The app with its lifespan running, on the same files as `city`."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def operator(settings: ApiSettings, city: City, auth: dict[str, str]) -> Iterator[TestClient]:
    """Like `client`, but every request carries the operator token."""
    with TestClient(create_app(settings), headers=auth) as test_client:
        yield test_client

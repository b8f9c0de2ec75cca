"""Quantities from configuration beside the built-in ones, and the city's time zone from settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from analytics.localtime import LocalClock
from citysense.settings import AnalyticsSettings, IngestSettings
from citysense.wire import QUANTITIES, RejectReason, parse_pack


@pytest.fixture
def water_pressure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    QUANTITIES.pop("water_pressure", None)
    monkeypatch.setenv(
        "CITYSENSE_QUANTITIES", json.dumps([{"name": "water_pressure", "unit": "bar", "minimum": 0, "maximum": 16}])
    )
    yield
    QUANTITIES.pop("water_pressure", None)


def _pack(value: float, unit: str, name: str = "water_pressure") -> bytes:
    record = {"bn": "urn:dev:cs:pump-7:", "bt": 1_767_546_000, "n": name, "u": unit, "v": value}
    return json.dumps([record]).encode()


def test_ingest_accepts_a_configured_quantity_with_its_unit_and_range(water_pressure: None) -> None:
    assert parse_pack(_pack(4.2, "bar"), device_id="pump-7", now=1_767_546_000).rejections  # not yet configured
    IngestSettings()  # every service registers the configured quantities when it reads its settings
    result = parse_pack(_pack(4.2, "bar"), device_id="pump-7", now=1_767_546_000)
    assert [(r.quantity, r.value) for r in result.readings] == [("water_pressure", 4.2)]
    assert QUANTITIES["water_pressure"].label == "Water pressure"
    wrong_unit = parse_pack(_pack(4.2, "Pa"), device_id="pump-7", now=1_767_546_000)
    assert [r.reason for r in wrong_unit.rejections] == [RejectReason.UNIT_MISMATCH]
    out_of_range = parse_pack(_pack(40.0, "bar"), device_id="pump-7", now=1_767_546_000)
    assert [r.reason for r in out_of_range.rejections] == [RejectReason.OUT_OF_RANGE]


def test_a_built_in_quantity_cannot_be_redefined() -> None:
    with pytest.raises(ValueError, match="already defined"):
        AnalyticsSettings(quantities=[{"name": "pm25", "unit": "ppm"}])
    with pytest.raises(ValidationError, match="name"):
        AnalyticsSettings(quantities=[{"name": "Water Pressure!", "unit": "bar"}])


def test_timezone_is_checked_and_drives_local_hours() -> None:
    assert AnalyticsSettings().timezone == "Asia/Jakarta"
    with pytest.raises(ValidationError, match="IANA"):
        AnalyticsSettings(timezone="UTC+7")
    berlin = LocalClock("Europe/Berlin")
    # 08:00 local on a Monday, in winter (UTC+1) and in summer (UTC+2): the same hour of the week.
    winter = datetime(2026, 1, 5, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    summer = datetime(2026, 7, 6, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert berlin.hour_of_week(winter) == berlin.hour_of_week(summer) == 8
    jakarta = LocalClock("Asia/Jakarta")
    assert (
        jakarta.hour_of_week(datetime(2026, 1, 10, 23, 30, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp()) == 5 * 24 + 23
    )

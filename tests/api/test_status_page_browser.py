"""The residents' status page in a real headless Chromium (Debian's), in English and Indonesian, on a phone."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from citysense.wire import Reading
from simulators.city import build_fleet
from tests.api.support import seed_default_city, sensor_ticket, served

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DISTRICT_NAMES = ("Kota Lama", "Pelabuhan", "Sungai Barat", "Industri Timur", "Taman Sari", "Bukit Hijau")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def site(settings, city) -> Iterator[str]:
    now = seed_default_city(city, pm25=20.0, water=1.0)
    gauges = [d.device_id for d in build_fleet() if d.district == "sungai-barat" and "water_level" in d.quantities]
    city.readings(*[Reading(gauge, "water_level", 3.2, now + 1000) for gauge in gauges])
    opened = sensor_ticket(city, Reading(gauges[0], "water_level", 3.2, now + 1000), "sungai-barat")
    assert opened is not None
    with served(settings.model_copy(update={"webhooks_enabled": False})) as url:
        yield url


def test_status_page_in_both_languages_with_map_and_ticket(browser, site):
    ARTIFACTS.mkdir(exist_ok=True)
    english = browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
    english.goto(site + "/")
    assert english.locator("html").get_attribute("lang") == "en"
    assert english.locator("h1").inner_text() == "City status"
    assert english.locator("svg.map a.district-shape").count() == 6
    flooded = english.locator('svg.map a[data-district="sungai-barat"]')
    assert flooded.get_attribute("data-category") == "danger"
    for name in DISTRICT_NAMES:
        assert english.locator("#districts h2", has_text=name).count() == 1
    ticket = english.locator("#tickets .ticket").first
    assert "Flood risk" in ticket.inner_text()
    assert "Opened" in ticket.inner_text()
    assert "1 open ticket" in english.locator("#d-sungai-barat").inner_text()
    english.screenshot(path=str(ARTIFACTS / "status-page-en.png"), full_page=True)

    # A browser that prefers Indonesian gets Indonesian without asking.
    indonesian = browser.new_page(locale="id-ID", viewport={"width": 1280, "height": 900})
    indonesian.goto(site + "/")
    assert indonesian.locator("html").get_attribute("lang") == "id"
    assert indonesian.locator("h1").inner_text() == "Status kota"
    assert "Risiko banjir di Sungai Barat" in indonesian.locator("#tickets .ticket").first.inner_text()
    assert "Awas" in indonesian.locator("#d-sungai-barat").inner_text()
    indonesian.screenshot(path=str(ARTIFACTS / "status-page-id.png"), full_page=True)

    # The switch link goes back to English.
    indonesian.get_by_role("link", name="English").click()
    assert indonesian.locator("h1").inner_text() == "City status"


def test_status_page_fits_a_phone(browser, site):
    phone = browser.new_page(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    phone.goto(site + "/?lang=id")
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # nothing wider than the screen
    assert phone.locator("svg.map").bounding_box()["width"] <= 375
    phone.screenshot(path=str(ARTIFACTS / "status-page-phone-id.png"), full_page=True)

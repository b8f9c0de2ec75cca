"""The residents' pages over HTTP: a ticket's page, a district's week, the status page's trends, /report."""
# ruff: noqa: RUF001  (the pages write ranges with an en dash)

from __future__ import annotations

import io
import os
import re
import time
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.geo import load_city
from citysense.db import connect
from citysense.keys import create_key
from citysense.wire import Reading
from tests.api.support import key, seed_default_city, sensor_ticket

HOUR_MS = 3_600_000


@pytest.fixture
def fresh(settings, city):
    """The app with the public cache off, so each request sees the change the test just made."""
    with TestClient(create_app(settings.model_copy(update={"public_cache_s": 0, "ticket_events": False}))) as c:
        yield c


def _rising_river(city) -> int:
    """A gauge in sungai-barat rising past the flood level over 40 minutes; returns the ticket id."""
    now = int(time.time() * 1000)
    city.devices(("gauge-1", "sungai-barat", "water"))
    levels = [1.8, 2.0, 2.3, 2.6, 2.9]
    city.readings(*[Reading("gauge-1", "water_level", v, now - (40 - 10 * i) * 60_000) for i, v in enumerate(levels)])
    change = sensor_ticket(city, Reading("gauge-1", "water_level", 2.9, now), "sungai-barat")
    return change.ticket_id


def test_ticket_page_shows_what_where_who_every_step_and_the_readings_against_the_limit(city, fresh):
    ticket_id = _rising_river(city)
    crew = key(city, "tickets:write")
    expected = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    assigned = fresh.post(
        f"/api/v1/tickets/{ticket_id}/assign",
        headers=crew,
        json={"assignee": "crew-7", "expected_completion_at": expected.isoformat()},
    )
    assert assigned.status_code == 200, assigned.text
    fresh.post(f"/api/v1/tickets/{ticket_id}/comment", headers=crew, json={"message": "internal only"})

    page = fresh.get(f"/tickets/{ticket_id}?lang=en")
    assert page.status_code == 200
    html = page.text
    assert page.headers["content-language"] == "en"
    assert 'http-equiv="refresh"' not in html  # refreshes itself by script, never by meta refresh
    assert '<script src="/static/live.js"' in html
    assert "<script>" not in html
    assert f"#{ticket_id} Flood risk" in html
    assert 'id="agency">water<' in html
    assert expected.strftime("%Y-%m-%d %H:%M") in html
    steps = re.findall(r'<li data-kind="([a-z]+)">', html)
    assert steps == ["opened", "assigned"]  # the internal comment is not public
    assert "internal only" not in html
    # The readings that raised it, against the limit, as an SVG a screen reader can read.
    chart = re.search(r'<svg class="chart" role="img" aria-label="([^"]+)"', html)
    assert chart is not None
    assert "gauge-1: 1.8 → 2.9 m" in chart.group(1)
    assert "limit 2.5 m" in chart.group(1)
    assert html.count('<polyline class="line s0"') == 1
    assert 'class="limit"' in html
    # Where: the city map with the ticket's district standing out, each shape named.
    assert 'data-district="sungai-barat"' in html
    assert 'aria-label="Sungai Barat"' in html
    # The API links to the page; the page links back to the API.
    detail = fresh.get(f"/public/v1/tickets/{ticket_id}").json()
    assert detail["link"] == f"/tickets/{ticket_id}"
    assert f'href="/public/v1/tickets/{ticket_id}"' in html

    indonesian = fresh.get(f"/tickets/{ticket_id}", headers={"Accept-Language": "id-ID,id;q=0.9"})
    assert indonesian.headers["content-language"] == "id"
    assert "Riwayat" in indonesian.text
    assert "Risiko banjir di Sungai Barat" in indonesian.text
    assert "Petugas ditugaskan" in indonesian.text


def test_ticket_page_answers_404_and_422_for_tickets_it_cannot_show(fresh):
    assert fresh.get("/tickets/999").status_code == 404
    assert fresh.get("/tickets/abc").status_code == 422
    assert fresh.get("/tickets/0").status_code == 422


def test_status_page_draws_a_24_hour_sparkline_per_quantity_and_links_ticket_and_district_pages(city, fresh):
    now = seed_default_city(city, pm25=20.0, water=1.0)
    history = (
        ("kota-lama-air-01", "pm25", 10.0),
        ("kota-lama-water-01", "water_level", 0.8),
        ("kota-lama-noise-01", "noise", 50.0),
    )
    city.readings(
        *[
            Reading(device, quantity, base + h, now - (24 - h) * HOUR_MS)
            for device, quantity, base in history
            for h in range(24)
        ]
    )
    ticket_id = _rising_river(city)
    html = fresh.get("/?lang=en").text
    assert 'http-equiv="refresh"' not in html
    kota_lama = html[html.index('id="d-kota-lama"') :]
    kota_lama = kota_lama[: kota_lama.index("</article>")]
    sparks = re.findall(r'<svg class="spark" role="img" aria-label="([^"]+)"', kota_lama)
    assert len(sparks) == 3  # air, water, noise
    assert any(s.startswith("Air (PM2.5), last 24 hours:") and "µg/m³" in s for s in sparks)
    assert "ug/m3" not in html  # units typeset
    assert 'href="/districts/kota-lama?lang=en"' in kota_lama
    assert f'href="/tickets/{ticket_id}?lang=en"' in html
    assert f'href="/tickets/{ticket_id}?lang=id"' in fresh.get("/?lang=id").text


def test_district_page_draws_seven_days_with_the_category_bands_behind(city, fresh):
    now = seed_default_city(city, pm25=40.0, water=1.0)
    devices = [f"kota-lama-air-0{i}" for i in range(1, 9)]
    # Good on the first days, moderate, then unhealthy yesterday.
    values = [8.0] * 20 + [30.0] * 20 + [80.0] * 16
    city.readings(
        *[Reading(d, "pm25", v, now - (len(values) - i) * 3 * HOUR_MS) for d in devices for i, v in enumerate(values)]
    )
    page = fresh.get("/districts/kota-lama?lang=en")
    assert page.status_code == 200
    section = page.text[page.text.index('id="q-pm25"') :]
    section = section[: section.index("</section>")]
    bands = re.findall(r'<rect class="band c-(r\d)"[^>]*><title>([^<]+)</title>', section)
    assert [label for _, label in bands][:3] == ["Good", "Moderate", "Unhealthy"]
    assert [css for css, _ in bands][:3] == ["r0", "r1", "r2"]
    # The band ranges are written out too: colour is never the only signal.
    # Bounds where the ISPU category changes (the index is rounded: 15.9 is still ISPU 50, good).
    assert "Good: 0.0–15.9 µg/m³" in section
    assert "Moderate: 15.9–55.9 µg/m³" in section
    assert re.search(r'aria-label="Air \(PM2\.5\), last 7 days\. Air \(PM2\.5\): 8\.0 → ', section)
    indonesian = fresh.get("/districts/kota-lama?lang=id").text
    assert "Baik: 0.0–15.9 µg/m³" in indonesian
    assert "Tren 7 hari" in indonesian
    assert fresh.get("/districts/nowhere").status_code == 404
    assert fresh.get("/districts/Not%20A%20Slug").status_code == 422


def _form(**overrides: str) -> dict[str, str]:
    return {
        "service_code": "drainage",
        "lat": "",
        "long": "",
        "address_string": "Jl. Merdeka 12, by the school",
        "description": "The drain in front of the school overflows when it rains.",
        "email": "resident@example.org",
        "phone": "+62 812 0000 0000",
        "lang": "en",
        **overrides,
    }


def test_report_without_javascript_opens_a_ticket_with_the_same_id_in_open311_and_its_page(fresh):
    sent = fresh.post("/report", data=_form())
    assert sent.status_code == 201
    number = re.search(r"your report is ticket #(\d+)", sent.text)
    assert number is not None
    ticket_id = int(number.group(1))
    assert f'href="/tickets/{ticket_id}?lang=en"' in sent.text

    requests = fresh.get("/open311/v2/requests.json", params={"service_request_id": str(ticket_id)}).json()
    assert [r["service_request_id"] for r in requests] == [str(ticket_id)]
    assert requests[0]["address"] == "Jl. Merdeka 12, by the school"
    assert requests[0]["service_code"] == "drainage"
    assert requests[0]["media_url"] is None

    page = fresh.get(f"/tickets/{ticket_id}?lang=en").text
    assert "The drain in front of the school overflows" in page
    assert "Reported by a resident" in page
    # Contact details are kept for the city, never shown publicly.
    for public in (page, fresh.get(f"/public/v1/tickets/{ticket_id}").text, str(requests), fresh.get("/").text):
        assert "resident@example.org" not in public
        assert "0000 0000" not in public


def test_report_with_a_position_picked_on_the_map_lands_in_its_district(city, fresh):
    shape = next(d for d in load_city(None).districts if d.slug == "pelabuhan")
    lon, lat = shape.centre
    sent = fresh.post("/report", data=_form(address_string="", lat=f"{lat:.6f}", long=f"{lon:.6f}"))
    assert sent.status_code == 201
    ticket_id = int(re.search(r"ticket #(\d+)", sent.text).group(1))  # type: ignore[union-attr]
    detail = fresh.get(f"/public/v1/tickets/{ticket_id}").json()
    assert detail["district"] == "pelabuhan"
    assert '<circle class="here"' in fresh.get(f"/tickets/{ticket_id}").text  # the pin on the ticket's map


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"address_string": ""}, 400, "a location is required: lat and long, address_string, or address_id"),
        ({"service_code": "dragons"}, 404, "service_code 'dragons' not found"),  # GeoReport v2: unknown service
        ({"lat": "north", "long": "106.8"}, 400, "lat and long must both be decimal degrees"),
    ],
)
def test_report_refusals_are_4xx_pages_that_keep_what_was_typed(fresh, overrides, status, message):
    refused = fresh.post("/report", data=_form(**overrides))
    assert refused.status_code == status
    assert message in unescape(refused.text)
    assert 'role="alert"' in refused.text
    assert "The drain in front of the school overflows" in refused.text  # nothing to type again
    assert fresh.get("/open311/v2/requests.json").json() == []


def _photo_with_gps(kind: str = "JPEG") -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "S", 2: (6.0, 12.0, 30.0), 3: "E", 4: (106.0, 49.0, 0.0)}  # GPS position
    out = io.BytesIO()
    image.save(out, kind, exif=exif.tobytes())
    return out.getvalue()


def test_report_photo_is_stripped_of_metadata_and_public_only_after_an_operator_approves(city, fresh):
    raw = _photo_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif()  # the upload does carry a position
    sent = fresh.post("/report", data=_form(), files={"photo": ("drain.jpg", raw, "image/jpeg")})
    assert sent.status_code == 201
    ticket_id = int(re.search(r"ticket #(\d+)", sent.text).group(1))  # type: ignore[union-attr]

    page = fresh.get(f"/tickets/{ticket_id}?lang=en").text
    assert "it is shown once the city has checked it" in page
    assert "/public/v1/media/" not in page
    assert fresh.get(f"/open311/v2/requests/{ticket_id}.json").json()[0]["media_url"] is None
    assert fresh.get("/public/v1/media/1").status_code == 404

    reviewer = key(city, "tickets:read", "tickets:write")
    before = fresh.get("/api/v1/media/1", headers=reviewer)
    assert before.status_code == 200
    assert before.headers["content-type"] == "image/jpeg"
    approved = fresh.post("/api/v1/media/1/approve", headers=reviewer)
    assert approved.status_code == 200
    assert approved.json()["ticket_id"] == ticket_id

    media_url = fresh.get(f"/open311/v2/requests/{ticket_id}.json").json()[0]["media_url"]
    assert media_url == "/public/v1/media/1"
    served = fresh.get(media_url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    cleaned = Image.open(io.BytesIO(served.content))
    assert cleaned.size == (64, 48)
    assert not cleaned.getexif()
    assert "exif" not in cleaned.info
    assert f'src="{media_url}"' in fresh.get(f"/tickets/{ticket_id}").text


def test_report_refuses_files_that_are_not_small_jpeg_or_png_photos(fresh):
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    for name, body, reason in (
        ("notes.txt", b"hello", "not a readable JPEG or PNG photo"),
        ("anim.gif", gif.getvalue(), "must be JPEG or PNG, not GIF"),
        ("huge.jpg", b"\xff\xd8" + b"0" * (5 * 1024 * 1024), "at most 5 MB"),
    ):
        refused = fresh.post("/report", data=_form(), files={"photo": (name, body, "image/jpeg")})
        assert refused.status_code == 400, name
        assert reason in refused.text
    assert fresh.get("/open311/v2/requests.json").json() == []  # nothing opened for a refused upload
    # A body far past the photo limit is refused before it is read (the API's body limit).
    flood = fresh.post("/report", data=_form(), files={"photo": ("x.jpg", b"0" * (6 * 1024 * 1024), "image/jpeg")})
    assert flood.status_code == 413
    # A photo just under the limit goes through: 1200 x 1200 pixels of noise are 4.3 MB as PNG.
    noise = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(noise, "PNG", compress_level=0)
    assert 4_000_000 < len(noise.getvalue()) <= 5 * 1024 * 1024
    big = fresh.post("/report", data=_form(), files={"photo": ("p.png", noise.getvalue(), "image/png")})
    assert big.status_code == 201


def test_report_form_is_labelled_in_both_languages(fresh):
    english = fresh.get("/report?lang=en").text
    for field in ("service_code", "lat", "long", "address_string", "description", "photo", "email", "phone"):
        assert f'<label for="{field}">' in english
        assert f'id="{field}"' in english
    assert 'action="/report"' in english
    assert 'enctype="multipart/form-data"' in english
    assert "device_fault" not in english  # residents report problems, not sensor faults
    assert "Laporkan masalah" in fresh.get("/report?lang=id").text


def test_a_photo_sent_to_one_replica_is_served_by_another_on_both_databases(settings, tickets_url):
    """Photos live in the tickets database (migration 0009), not on one replica's disk."""
    shared = settings.model_copy(update={"tickets_url": tickets_url, "public_cache_s": 0, "ticket_events": False})
    first = shared.model_copy(update={"data_dir": settings.data_dir / "one"})
    second = shared.model_copy(update={"data_dir": settings.data_dir / "two"})
    with TestClient(create_app(first)) as one, TestClient(create_app(second)) as two:
        sent = one.post("/report", data=_form(), files={"photo": ("d.jpg", _photo_with_gps(), "image/jpeg")})
        assert sent.status_code == 201
        ticket_id = int(re.search(r"ticket #(\d+)", sent.text).group(1))  # type: ignore[union-attr]
        created = create_key(connect(tickets_url), name="reviewer", scopes=["tickets:write"])
        reviewer = {"Authorization": f"Bearer {created.key}"}
        approved = two.post("/api/v1/media/1/approve", headers=reviewer)
        assert approved.status_code == 200
        assert approved.json()["ticket_id"] == ticket_id
        served = two.get(one.get(f"/open311/v2/requests/{ticket_id}.json").json()[0]["media_url"])
        assert served.status_code == 200
        assert Image.open(io.BytesIO(served.content)).size == (64, 48)


@pytest.mark.parametrize("path", ["/report", "/tickets/1", "/districts/kota-lama"])
def test_the_residents_pages_are_rate_limited_per_client_like_the_public_api(settings, city, path):
    tight = settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 3, "ticket_events": False})
    with TestClient(create_app(tight)) as client:
        answers = [client.get(path).status_code for _ in range(4)]
        assert answers[:3] != [429, 429, 429]
        assert answers[-1] == 429

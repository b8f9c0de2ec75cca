"""The public API beyond status: caching, rate limits, CORS, categories, districts and open-data exports."""

from __future__ import annotations

import csv
import io
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.secheaders import CONTENT_SECURITY_POLICY
from citysense.settings import ApiSettings
from citysense.wire import Reading
from simulators.city import build_fleet
from tests.api.support import all_pages, seed_default_city

DISTRICTS = {"kota-lama", "pelabuhan", "sungai-barat", "industri-timur", "taman-sari", "bukit-hijau"}


def test_status_is_cached_with_etag_and_answers_304(city, client):
    seed_default_city(city)
    first = client.get("/public/v1/status")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=5"
    etag = first.headers["etag"]
    again = client.get("/public/v1/status", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/public/v1/status", headers={"If-None-Match": '"other"'}).status_code == 200


def test_status_carries_ispu_aqi_and_flood_categories(city, client):
    seed_default_city(city, pm25=60.0, water=2.2)
    status = client.get("/public/v1/status/sungai-barat").json()
    pm25 = status["quantities"]["pm25"]
    # The category is of the latest readings (what tickets open on); ISPU 105 at 60 ug/m3.
    assert (pm25["scale"], pm25["category"], pm25["averaging"]) == ("ispu", "unhealthy", "latest")
    # The indices are of the 24-hour average, which one reading does not make.
    assert (pm25["ispu"], pm25["aqi"], pm25["ispu_averaging"], pm25["aqi_averaging"]) == (None, None, "24h", "24h")
    assert pm25["nowcast_averaging"] == "nowcast_12h"
    water = client.get("/public/v1/status/sungai-barat/water_level").json()
    assert (water["scale"], water["category"], water["value"]) == ("flood", "warning", 2.2)  # 88% of 2.5 m
    assert client.get("/public/v1/status/atlantis").status_code == 404
    noise = client.get("/public/v1/status/sungai-barat/noise").json()
    assert (noise["scale"], noise["category"]) == ("noise", "moderate")
    assert client.get("/public/v1/status/sungai-barat/bogus_quantity").status_code == 422
    unknown = client.get("/public/v1/status/sungai-barat/co2")
    assert unknown.status_code == 422
    assert "unknown quantity 'co2'" in unknown.json()["detail"]


def test_ispu_and_aqi_are_of_the_24_hour_average_and_nowcast_of_the_last_12_hours(city, client):
    """Hourly means 20 ug/m3 for 18 hours then 80 for the last 6: the 24h mean is 35, the NowCast leans to 80."""
    seed_default_city(city)
    hour = 3_600_000
    end = int(time.time() * 1000) // hour * hour
    sensors = [d.device_id for d in build_fleet() if d.district == "kota-lama" and "pm25" in d.quantities]
    readings = []
    for i in range(1, 25):  # i hours ago, two readings in the hour
        value = 80.0 if i <= 6 else 20.0
        readings += [Reading(s, "pm25", value, end - i * hour + m * 60_000) for s in sensors for m in (5, 35)]
    city.readings(*readings)
    pm25 = client.get("/public/v1/status/kota-lama/pm25").json()
    assert (pm25["avg_24h"], pm25["avg_24h_hours"]) == (35.0, 24)
    # ISPU of 35.0: (100 - 50) / (55.4 - 15.5) * (35 - 15.5) + 50 = 74.4; AQI: 49 / 26.3 * (35 - 9.1) + 51 = 99.3.
    assert (pm25["ispu"], pm25["ispu_category"]) == (74, "moderate")
    assert (pm25["aqi"], pm25["aqi_category"]) == (99, "moderate")
    # Weight factor 1 - 60/80 = 0.25 -> 0.5: hours 0-5 at 80 dominate. sum(0.5**i) over 12 hours.
    w = [0.5**i for i in range(12)]
    expected = sum(wi * (80.0 if i < 6 else 20.0) for i, wi in enumerate(w)) / sum(w)
    assert pm25["nowcast"] == int(expected * 10) / 10
    assert pm25["nowcast_category"] == "unhealthy"
    # The page names each figure's averaging period too.
    page = client.get("/?lang=en").text
    assert "ISPU 74, AQI 99 (24-hour average)" in page
    assert "(latest readings)" in page
    assert "(NowCast (last 12 hours))" in page
    assert "rata-rata 24 jam" in client.get("/?lang=id").text


def test_districts_come_from_the_city_geojson_then_the_registry(city, client):
    seed_default_city(city)
    city.devices(("new-1", "pantai-baru", "air"))
    body = client.get("/public/v1/districts").json()
    by_slug = {d["slug"]: d for d in body["data"]}
    assert set(by_slug) == DISTRICTS | {"pantai-baru"}
    assert by_slug["kota-lama"]["name"] == "Kota Lama"
    assert by_slug["kota-lama"]["devices"] == sum(d.district == "kota-lama" for d in build_fleet())
    assert by_slug["pantai-baru"]["has_geometry"] is False
    geo = client.get("/public/v1/districts.geojson")
    assert geo.headers["content-type"] == "application/geo+json"
    features = geo.json()["features"]
    assert {f["properties"]["slug"] for f in features} == DISTRICTS
    assert all(f["geometry"]["type"] == "Polygon" for f in features)


def test_city_geojson_setting_replaces_the_map(settings, city, tmp_path):
    path = tmp_path / "town.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"slug": "centre",'
        ' "name": "Centre"}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}]}'
    )
    with TestClient(create_app(settings.model_copy(update={"city_geojson": path}))) as client:
        assert [d["slug"] for d in client.get("/public/v1/districts").json()["data"]] == ["centre"]
    path.write_text('{"type": "FeatureCollection", "features": [{"properties": {}}]}')
    with pytest.raises(ValueError, match="feature 0 has no 'slug' property"):
        create_app(settings.model_copy(update={"city_geojson": path}))


def test_devices_geojson_is_paginated(city, client):
    seed_default_city(city)
    page = client.get("/public/v1/devices.geojson", params={"limit": 5, "offset": 5}).json()
    assert page["count"] == len(build_fleet())
    assert len(page["features"]) == 5
    feature = page["features"][0]
    assert feature["geometry"]["type"] == "Point"
    assert set(feature["properties"]) == {"id", "district", "kind"}
    # A client that follows the links gets every sensor once, with or without the cache warm.
    for _ in range(2):
        pages = all_pages(client, "/public/v1/devices.geojson?limit=40")
        ids = [f["id"] for p in pages for f in p["features"]]
        assert len(pages) == -(-len(build_fleet()) // 40)
        assert sorted(ids) == sorted(d.device_id for d in build_fleet())


def test_public_tickets_come_in_pages_linked_by_next_with_the_total(city, client):
    """Residents' and open-data clients page the ticket list the way operators page theirs."""
    seed_default_city(city)
    now = int(time.time() * 1000)
    rivers = sorted({d.district: d.device_id for d in build_fleet() if "water_level" in d.quantities}.values())
    for n, device_id in enumerate(rivers):
        city.breach(Reading(device_id, "water_level", 3.0, now + n))
    last = client.get("/public/v1/tickets", params={"limit": 2, "offset": len(rivers) - 1})
    assert last.headers["x-total-count"] == str(len(rivers))
    assert "link" not in last.headers  # nothing follows the last page
    pages = all_pages(client, "/public/v1/tickets?limit=2")
    assert [len(p["data"]) for p in pages] == [2] * (len(rivers) // 2) + [1] * (len(rivers) % 2)
    assert len({t["id"] for p in pages for t in p["data"]}) == len(rivers) >= 3


def test_readings_export_is_csv_bounded_and_paginated(city, client):
    now = seed_default_city(city)
    air_sensors = sum(d.district == "kota-lama" and "pm25" in d.quantities for d in build_fleet())
    city.readings(Reading("kota-lama-air-01", "pm25", 50.0, now - 3_600_000))
    params = {"quantity": "pm25", "district": "kota-lama"}
    whole = client.get("/public/v1/export/readings.csv", params={**params, "limit": 10_000})
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("text/csv")
    assert "link" not in whole.headers
    slots = int(whole.headers["x-total-count"])  # (sensor, hour) slots: 24 h, the first hour cut by the range
    assert slots in (24 * air_sensors, 25 * air_sensors)
    rows = list(csv.DictReader(io.StringIO(whole.text)))
    assert len(rows) == air_sensors + 1  # every sensor now, one an hour ago as well
    assert set(rows[0]) == {"time", "device_id", "district", "quantity", "unit", "mean", "min", "max", "count"}
    assert rows[0]["unit"] == "ug/m3"
    assert rows[0]["district"] == "kota-lama"
    paged: list[dict[str, str]] = []
    url: str | None = str(whole.url.copy_merge_params({"limit": 7}))
    pages = 0
    while url is not None:  # pages of 7 slots: some empty, together every row once
        page = client.get(url)
        paged += csv.DictReader(io.StringIO(page.text))
        pages += 1
        url = page.headers["link"].split(";")[0].strip("<>") if "link" in page.headers else None
    assert pages == -(-slots // 7)
    assert paged == rows
    too_long = client.get(
        "/public/v1/export/readings.csv",
        params={"quantity": "pm25", "start": "2026-01-01T00:00:00Z", "end": "2026-01-09T00:00:00Z"},
    )
    assert too_long.status_code == 422
    assert "7 days" in too_long.json()["detail"]
    assert client.get("/public/v1/export/readings.csv", params={"quantity": "pm25", "bucket": 10}).status_code == 422


def test_rate_limit_per_client_answers_429_with_retry_after(settings, city):
    limited = settings.model_copy(update={"rate_limit_per_s": 1.0, "rate_limit_burst": 3})
    with TestClient(create_app(limited)) as client:
        codes = [client.get("/public/v1/tickets").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        refused = client.get("/public/v1/status")
        assert refused.headers["retry-after"] == "1"
        assert "too many requests" in refused.json()["detail"]
        assert client.get("/healthz").status_code == 200  # health checks are never limited
        time.sleep(1.1)
        assert client.get("/public/v1/tickets").status_code == 200  # the bucket refills


def test_cors_lets_browsers_on_other_sites_read_public_data_but_not_use_keys(settings, client):
    response = client.get("/public/v1/tickets", headers={"Origin": "https://data.example.org"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    preflight = {
        "Origin": "https://ops.example.org",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    refused = client.options("/api/v1/tickets", headers=preflight)
    assert refused.status_code == 400  # no origin is allowed to send keys by default
    assert "access-control-allow-origin" not in refused.headers
    public_with_key = client.options("/public/v1/tickets", headers=preflight)
    assert public_with_key.status_code == 400  # public routes take no credentials

    console = settings.model_copy(update={"cors_origins": ["https://ops.example.org"]})
    with TestClient(create_app(console)) as allowed:
        answered = allowed.options("/api/v1/tickets", headers=preflight)
        assert answered.status_code == 200
        assert answered.headers["access-control-allow-origin"] == "https://ops.example.org"
        assert "authorization" in answered.headers["access-control-allow-headers"].lower()
        other = allowed.options("/api/v1/tickets", headers={**preflight, "Origin": "https://evil.example"})
        assert other.status_code == 400


def _exposed(response) -> set[str]:
    return {name.strip().lower() for name in response.headers.get("access-control-expose-headers", "").split(",")}


def test_a_site_reading_public_data_can_read_413_and_429_and_when_to_retry(settings, city):
    """The body limit and the rate limiter answer before any route: their refusals still carry CORS."""
    tight = settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 1, "max_body_bytes": 1024})
    site = {"Origin": "https://data.example.org"}
    with TestClient(create_app(tight)) as client:
        too_big = client.post(
            "/open311/v2/requests.json",
            content=b"description=" + b"x" * 2048,
            headers={**site, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert too_big.status_code == 413
        assert too_big.json()[0]["code"] == 413
        assert too_big.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in too_big.headers

        assert client.get("/public/v1/status", headers=site).status_code == 200  # the burst of one
        refused = client.get("/public/v1/status", headers=site)
        assert refused.status_code == 429
        assert refused.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in refused.headers
        assert "retry-after" in _exposed(refused)
        assert int(refused.headers["retry-after"]) >= 1

        # A request that needs a preflight (a conditional GET) is still let through to its 429.
        preflight = client.options(
            "/public/v1/status",
            headers={**site, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"


def _json_from(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Content-Type": "application/json"}


def test_operator_api_refusals_carry_cors_for_its_own_origins_only(settings, city):
    console = settings.model_copy(update={"cors_origins": ["https://ops.example.org"], "max_body_bytes": 1024})
    body = b'{"url": "https://ops.example.org/hook", "pad": "' + b"x" * 2048 + b'"}'
    with TestClient(create_app(console)) as client:
        allowed = client.post("/api/v1/webhooks", content=body, headers=_json_from("https://ops.example.org"))
        assert allowed.status_code == 413
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example.org"
        assert "origin" in allowed.headers["vary"].lower()

        other = client.post("/api/v1/webhooks", content=body, headers=_json_from("https://evil.example"))
        assert other.status_code == 413
        assert "access-control-allow-origin" not in other.headers


def test_cors_wildcard_for_the_operator_api_is_refused_at_startup():
    with pytest.raises(ValueError, match="cors_origins"):
        ApiSettings(cors_origins=["*"])


def test_every_response_carries_the_security_headers(client):
    for path in ("/", "/public/v1/tickets", "/api/v1/tickets", "/healthz", "/nowhere"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_readyz_and_metrics(city, client):
    seed_default_city(city)
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"tickets_db": "ok", "timeseries": "ok"}}
    client.get("/public/v1/status")
    client.get("/public/v1/tickets", params={"limit": 0})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'citysense_api_requests_total{method="GET",route="/public/v1/status",status="200"} 1.0' in text
    assert 'route="/public/v1/tickets",status="422"' in text
    assert "citysense_api_request_duration_seconds_bucket" in text
    assert "citysense_tickets_unresolved 0.0" in text


def test_readyz_names_the_store_that_fails(city, client):
    client.app.state.store.close()  # the time-series store goes away under the running app
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"tickets_db": "ok", "timeseries": "error: ProgrammingError"}

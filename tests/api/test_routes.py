"""The HTTP surfaces: health, the public API, the operator API and the residents' status page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from citysense import __version__
from citysense.wire import Reading
from tests.api.conftest import City
from tests.api.support import all_pages, key

T0 = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)  # on a whole minute, so 60 s buckets start at T0
T0_MS = int(T0.timestamp() * 1000)
PUBLIC_TICKET_FIELDS = {
    "id",
    "service_code",
    "title",
    "district",
    "severity",
    "status",
    "opened_at",
    "updated_at",
    "resolved_at",
    "timeline",
    "link",  # the ticket's page for residents
}
FLOOD_TITLE = "Flood risk: river or drain water above the flood level"
AIR_TITLE = "Unhealthy air: PM2.5 above the healthy limit"


def ms(seconds: float) -> int:
    return T0_MS + round(seconds * 1000)


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.fixture
def seeded(city):
    """Three districts; one unregistered device; a resolved ticket in old-town and two open ones in riverside."""
    city.devices(
        ("river-1", "riverside", "water"),
        ("river-2", "riverside", "water"),
        ("air-3", "riverside", "air"),
        ("air-1", "old-town", "air"),
        ("air-2", "old-town", "air"),
        ("idle-1", "hillside", "air"),
    )
    city.readings(
        Reading("river-1", "water_level", 1.0, ms(0)),
        Reading("river-1", "water_level", 3.0, ms(60)),
        Reading("river-2", "water_level", 2.0, ms(30)),
        Reading("river-1", "temperature", 20.0, ms(0)),
        Reading("air-3", "pm25", 60.0, ms(10)),
        Reading("air-1", "pm25", 10.0, ms(0)),
        Reading("air-2", "pm25", 20.5, ms(20)),
        Reading("stranger", "pm25", 999.0, ms(90)),
        Reading("stranger", "water_level", 50.0, ms(90)),
    )
    # Ticket 1: unhealthy air in old-town two hours ago, quiet since, so resolved.
    city.breach(Reading("air-1", "pm25", 60.0, ms(-7200)))
    resolved_at = T0 - timedelta(seconds=7200) + timedelta(seconds=city.quiet_period_s + 60)
    assert [c.event for c in city.resolve_quiet(resolved_at)] == ["resolved"]
    # Ticket 2: a flood in riverside, confirmed by a second gauge at a critical level.
    city.breach(Reading("river-1", "water_level", 2.6, ms(0)))
    # Ticket 3: unhealthy air in riverside.
    city.breach(Reading("air-3", "pm25", 60.0, ms(10)))
    city.breach(Reading("river-2", "water_level", 3.6, ms(30)))
    return {"resolved_at": resolved_at}


# --------------------------------------------------------------------------- health


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


# --------------------------------------------------------------------------- public status


def test_status_aggregates_latest_values_per_district(client, seeded):
    before = datetime.now(UTC)
    response = client.get("/public/v1/status")
    assert response.status_code == 200
    body = response.json()
    assert before - timedelta(seconds=1) <= when(body["generated_at"]) <= datetime.now(UTC) + timedelta(seconds=1)

    districts = {d["district"]: d for d in body["districts"]}
    # Sorted, and only districts of registered devices: the unregistered 'stranger' counts nowhere.
    assert [d["district"] for d in body["districts"]] == ["hillside", "old-town", "riverside"]

    riverside = districts["riverside"]
    assert riverside["devices"] == 3
    assert riverside["open_tickets"] == 2
    assert set(riverside["quantities"]) == {"water_level", "temperature", "pm25"}
    water = riverside["quantities"]["water_level"]
    # Latest per gauge: river-1 3.0 (its older 1.0 does not count), river-2 2.0.
    assert (water["value"], water["max"], water["sensors"]) == (2.5, 3.0, 2)
    assert (water["quantity"], water["label"], water["unit"]) == ("water_level", "Water level", "m")
    assert when(water["updated_at"]) == T0 + timedelta(seconds=60)
    assert riverside["quantities"]["pm25"]["max"] == 60.0  # not the stranger's 999

    old_town = districts["old-town"]
    assert old_town["devices"] == 2
    assert old_town["open_tickets"] == 0  # its ticket is resolved
    pm25 = old_town["quantities"]["pm25"]
    assert (pm25["value"], pm25["max"], pm25["sensors"], pm25["unit"]) == (15.25, 20.5, 2, "ug/m3")
    assert when(pm25["updated_at"]) == T0 + timedelta(seconds=20)

    assert districts["hillside"] == {"district": "hillside", "devices": 1, "open_tickets": 0, "quantities": {}}


def test_status_mean_is_rounded_to_three_decimals(city, client):
    city.devices(("a", "d", "air"), ("b", "d", "air"), ("c", "d", "air"))
    city.readings(Reading("a", "pm25", 1.0, ms(0)), Reading("b", "pm25", 1.0, ms(0)), Reading("c", "pm25", 2.0, ms(0)))
    pm25 = client.get("/public/v1/status").json()["districts"][0]["quantities"]["pm25"]
    assert pm25["value"] == 1.333
    assert pm25["max"] == 2.0


def test_status_of_an_empty_city(client):
    response = client.get("/public/v1/status")
    assert response.status_code == 200
    assert response.json()["districts"] == []


def test_status_follows_new_readings(city, client, seeded):
    city.readings(Reading("river-2", "water_level", 4.0, ms(120)))
    water = {d["district"]: d for d in client.get("/public/v1/status").json()["districts"]}["riverside"]
    water = water["quantities"]["water_level"]
    assert (water["value"], water["max"]) == (3.5, 4.0)
    assert when(water["updated_at"]) == T0 + timedelta(seconds=120)


# --------------------------------------------------------------------------- public tickets


def test_public_tickets_have_timelines_and_no_internal_fields(client, seeded):
    response = client.get("/public/v1/tickets")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [t["id"] for t in body["data"]] == [3, 2, 1]  # newest first
    for ticket in body["data"]:
        assert set(ticket) == PUBLIC_TICKET_FIELDS
        assert "dedupe_key" not in ticket
        assert "devices" not in ticket
        assert "peak_value" not in ticket
        assert ticket["timeline"]
        assert set(ticket["timeline"][0]) == {"at", "kind", "message"}
    assert "flood:riverside" not in response.text

    air, flood, old = body["data"]
    assert flood["title"] == f"{FLOOD_TITLE} in riverside"
    assert (flood["service_code"], flood["district"], flood["status"]) == ("flood", "riverside", "open")
    assert flood["severity"] == "critical"
    assert flood["resolved_at"] is None
    assert when(flood["opened_at"]) == T0
    assert [step["kind"] for step in flood["timeline"]] == ["opened", "updated"]
    assert "river-1" in flood["timeline"][0]["message"]
    assert "river-2" in flood["timeline"][1]["message"]
    assert when(flood["timeline"][1]["at"]) == T0 + timedelta(seconds=30)

    assert (air["service_code"], air["district"], air["status"]) == ("air_quality", "riverside", "open")
    assert [step["kind"] for step in air["timeline"]] == ["opened"]

    assert old["title"] == f"{AIR_TITLE} in old-town"
    assert old["status"] == "resolved"
    assert when(old["resolved_at"]) == seeded["resolved_at"]
    assert [step["kind"] for step in old["timeline"]] == ["opened", "resolved"]


@pytest.mark.parametrize(("status", "ids"), [("open", [3, 2]), ("resolved", [1])])
def test_public_tickets_filter_by_status(client, seeded, status, ids):
    body = client.get("/public/v1/tickets", params={"status": status}).json()
    assert [t["id"] for t in body["data"]] == ids
    assert body["count"] == len(ids)
    assert {t["status"] for t in body["data"]} == {status}


def test_public_tickets_filter_by_district_and_page(client, seeded):
    body = client.get("/public/v1/tickets", params={"district": "old-town"}).json()
    assert [t["id"] for t in body["data"]] == [1]
    assert client.get("/public/v1/tickets", params={"district": "nowhere"}).json() == {"data": [], "count": 0}

    page = client.get("/public/v1/tickets", params={"limit": 1, "offset": 1}).json()
    assert [t["id"] for t in page["data"]] == [2]
    assert page["count"] == 3  # the total, not the page size


@pytest.mark.parametrize(
    "params",
    [{"status": "closed"}, {"status": "OPEN"}, {"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"offset": -1}],
)
def test_public_tickets_refuse_bad_parameters(client, params):
    response = client.get("/public/v1/tickets", params=params)
    assert response.status_code == 422
    assert next(iter(params)) in response.text


# --------------------------------------------------------------------------- operator tickets


def test_operator_tickets_expose_the_evidence(operator, seeded):
    response = operator.get("/api/v1/tickets")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    flood = {t["id"]: t for t in body["data"]}[2]
    assert flood["dedupe_key"] == "flood:riverside"
    assert flood["devices"] == ["river-1", "river-2"]
    assert flood["peak_value"] == 3.6
    assert flood["quantity"] == "water_level"
    assert flood["threshold"] == 2.5
    assert when(flood["last_breach_at"]) == T0 + timedelta(seconds=30)
    assert set(flood) >= PUBLIC_TICKET_FIELDS | {"dedupe_key", "devices", "peak_value"}


def test_operator_tickets_filter(operator, seeded):
    resolved = operator.get("/api/v1/tickets", params={"status": "resolved"}).json()
    assert [(t["id"], t["dedupe_key"], t["devices"]) for t in resolved["data"]] == [
        (1, "air_quality:old-town", ["air-1"])
    ]
    air = operator.get("/api/v1/tickets", params={"service_code": "air_quality"}).json()
    assert [t["id"] for t in air["data"]] == [3, 1]
    assert operator.get("/api/v1/tickets", params={"status": "closed"}).status_code == 422
    assert operator.get("/api/v1/tickets", params={"limit": 0}).status_code == 422
    assert operator.get("/api/v1/tickets", params={"limit": 1000}).status_code == 200


# --------------------------------------------------------------------------- operator readings


@pytest.fixture
def gauge(city):
    city.devices(("river-1", "riverside", "water"))
    city.readings(
        Reading("river-1", "water_level", 9.0, ms(-1)),  # just before the range
        Reading("river-1", "water_level", 1.0, ms(0)),
        Reading("river-1", "water_level", 2.0, ms(10)),
        Reading("river-1", "water_level", 3.0, ms(60)),
        Reading("river-1", "water_level", 5.0, ms(70)),
        Reading("river-1", "water_level", 4.0, ms(130)),
        Reading("river-1", "water_level", 7.0, ms(180)),  # at the end of the range
        Reading("river-1", "rainfall", 8.0, ms(10)),  # another quantity
        Reading("river-2", "water_level", 6.0, ms(10)),  # another device
    )


def get_readings(operator, **params):
    params.setdefault("device_id", "river-1")
    params.setdefault("quantity", "water_level")
    params.setdefault("start", T0.isoformat())
    params.setdefault("end", (T0 + timedelta(minutes=3)).isoformat())
    return operator.get("/api/v1/readings", params=params)


def test_raw_readings_in_range(operator, gauge):
    response = get_readings(operator)
    assert response.status_code == 200
    body = response.json()
    assert (body["device_id"], body["quantity"], body["unit"]) == ("river-1", "water_level", "m")
    assert (body["kind"], body["bucket_s"]) == ("raw", None)
    assert [(when(p["time"]), p["value"]) for p in body["data"]] == [
        (T0, 1.0),
        (T0 + timedelta(seconds=10), 2.0),
        (T0 + timedelta(seconds=60), 3.0),
        (T0 + timedelta(seconds=70), 5.0),
        (T0 + timedelta(seconds=130), 4.0),
    ]
    assert all(p["mean"] is None and p["count"] is None for p in body["data"])


def test_bucketed_readings_in_range(operator, gauge):
    response = get_readings(operator, bucket=60)
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["bucket_s"]) == ("bucketed", 60)
    assert [(when(p["time"]), p["mean"], p["min"], p["max"], p["count"]) for p in body["data"]] == [
        (T0, 1.5, 1.0, 2.0, 2),
        (T0 + timedelta(seconds=60), 4.0, 3.0, 5.0, 2),
        (T0 + timedelta(seconds=120), 4.0, 4.0, 4.0, 1),
    ]
    assert all(p["value"] is None for p in body["data"])


def test_readings_times_without_zone_are_utc_and_other_zones_are_converted(operator, gauge):
    expected = get_readings(operator).json()["data"]
    naive = get_readings(operator, start="2026-09-21T12:00:00", end="2026-09-21T12:03:00")
    assert naive.json()["data"] == expected
    zoned = get_readings(operator, start="2026-09-21T14:00:00+02:00", end="2026-09-21T08:03:00-04:00")
    assert zoned.json()["data"] == expected


def test_readings_default_to_the_last_hour(city, operator):
    now_ms = int(time.time() * 1000)
    city.readings(
        Reading("river-1", "water_level", 1.0, now_ms - 2 * 3600_000),
        Reading("river-1", "water_level", 2.0, now_ms - 10 * 60_000),
    )
    body = operator.get("/api/v1/readings", params={"device_id": "river-1", "quantity": "water_level"}).json()
    assert [p["value"] for p in body["data"]] == [2.0]


def test_unknown_quantity_is_refused_by_name(operator):
    response = get_readings(operator, quantity="co2")
    assert response.status_code == 422
    assert "co2" in response.json()["detail"]
    assert "water_level" in response.json()["detail"]  # and the known ones are listed


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0 + timedelta(minutes=1), T0),  # start after end
        (T0, T0),  # an empty range
    ],
)
def test_start_must_be_before_end(operator, start, end):
    response = get_readings(operator, start=start.isoformat(), end=end.isoformat())
    assert response.status_code == 422
    assert "start must be before end" in response.text


def test_range_is_limited_to_31_days(operator, gauge):
    end = T0 + timedelta(minutes=3)
    too_long = get_readings(operator, start=(end - timedelta(days=31, seconds=1)).isoformat(), end=end.isoformat())
    assert too_long.status_code == 422
    assert "31 days" in too_long.text
    longest = get_readings(operator, start=(end - timedelta(days=31)).isoformat(), end=end.isoformat(), bucket=3600)
    assert longest.status_code == 200
    assert sum(p["count"] for p in longest.json()["data"]) == 6


@pytest.mark.parametrize("device_id", ["bad/id", "a b", "a:b", "+", "#", "deadletter", "-x", "a" * 65])
def test_invalid_device_id_is_refused(operator, device_id):
    response = get_readings(operator, device_id=device_id)
    assert response.status_code == 422


def test_missing_device_id_or_quantity_is_refused(operator):
    missing_device = operator.get("/api/v1/readings", params={"quantity": "water_level"})
    assert missing_device.status_code == 422
    assert "device_id" in missing_device.text
    missing_quantity = operator.get("/api/v1/readings", params={"device_id": "river-1"})
    assert missing_quantity.status_code == 422
    assert "quantity" in missing_quantity.text


@pytest.mark.parametrize("params", [{"bucket": 0}, {"bucket": 86_401}, {"start": "yesterday"}, {"end": "2026-13-01"}])
def test_bad_readings_parameters_are_refused(operator, params):
    assert get_readings(operator, **params).status_code == 422


@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-02T00:00:00Z"},
        {"end": "0001-01-01T00:30:00Z"},
        {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59-01:00"},
    ],
)
def test_dates_at_the_edge_of_the_calendar_are_refused_not_crashed(settings, auth, params):
    with TestClient(create_app(settings), headers=auth, raise_server_exceptions=False) as operator:
        response = operator.get("/api/v1/readings", params={"device_id": "river-1", "quantity": "pm25", **params})
    assert response.status_code == 422


# --------------------------------------------------------------------------- operator devices

DEVICE_FIELDS = {"id", "district", "kind", "lat", "lon", "last_seen", "health", "quantities"}


@pytest.fixture
def fleet(settings, tickets_url, auth):
    """Seven registered sensors on SQLite or PostgreSQL: three reporting, two silent, two never seen."""
    on_backend = settings.model_copy(update={"tickets_url": tickets_url})
    city = City(on_backend)
    city.devices(*[(f"sensor-{n:02}", "riverside" if n % 2 else "old-town", "air") for n in range(1, 8)])
    now_ms = int(time.time() * 1000)
    long_ago_ms = now_ms - 3_600_000  # an hour: past the 300 s after which a device is silent
    city.readings(
        Reading("sensor-01", "pm25", 12.0, now_ms),
        Reading("sensor-02", "pm25", 14.0, now_ms),
        Reading("sensor-02", "temperature", 29.0, now_ms),
        Reading("sensor-04", "pm25", 11.0, now_ms),
        Reading("sensor-03", "pm25", 15.0, long_ago_ms),
        Reading("sensor-06", "pm25", 16.0, long_ago_ms),
    )
    with TestClient(create_app(on_backend), headers=auth) as operator:
        yield operator


def test_devices_come_in_pages_linked_by_next_with_the_total(fleet):
    everyone = fleet.get("/api/v1/devices")
    assert everyone.status_code == 200
    assert "link" not in everyone.headers  # seven fit in the default page
    assert set(everyone.json()) == {"data", "count"}
    assert everyone.json()["count"] == 7
    assert [d["id"] for d in everyone.json()["data"]] == [f"sensor-{n:02}" for n in range(1, 8)]
    assert all(set(d) == DEVICE_FIELDS for d in everyone.json()["data"])

    pages = all_pages(fleet, "/api/v1/devices?limit=3")
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    assert [p["count"] for p in pages] == [7, 7, 7]
    assert [d for p in pages for d in p["data"]] == everyone.json()["data"]  # the same devices, each once

    past_the_end = fleet.get("/api/v1/devices", params={"offset": 7})
    assert past_the_end.json() == {"data": [], "count": 7}
    assert "link" not in past_the_end.headers


def test_device_filters_are_counted_and_paged_together(fleet):
    silent = all_pages(fleet, "/api/v1/devices?health=silent&limit=1")
    assert [[d["id"] for d in p["data"]] for p in silent] == [["sensor-03"], ["sensor-06"]]
    assert all(p["count"] == 2 for p in silent)
    assert {d["health"] for p in silent for d in p["data"]} == {"silent"}

    never = all_pages(fleet, "/api/v1/devices?health=never_seen&limit=5")
    assert [d["id"] for p in never for d in p["data"]] == ["sensor-05", "sensor-07"]
    assert never[0]["data"][0]["last_seen"] is None

    riverside_ok = all_pages(fleet, "/api/v1/devices?district=riverside&health=ok&limit=1")
    assert [d["id"] for p in riverside_ok for d in p["data"]] == ["sensor-01"]
    old_town = all_pages(fleet, "/api/v1/devices?district=old-town&limit=2")
    assert [[d["id"] for d in p["data"]] for p in old_town] == [["sensor-02", "sensor-04"], ["sensor-06"]]
    assert old_town[0]["data"][0]["quantities"] == ["pm25", "temperature"]


# --------------------------------------------------------------------------- operator listings


@pytest.fixture
def queue(settings, tickets_url, auth):
    """Six sensor tickets on SQLite or PostgreSQL (four floods, two of bad air), three acknowledged, two
    commented: six anomalies and a dozen audit entries. Yields the operator's client and the city."""
    on_backend = settings.model_copy(update={"tickets_url": tickets_url})
    city = City(on_backend)
    rivers = {"river-1": "riverside", "river-2": "old-town", "river-3": "harbour", "river-4": "hillside"}
    city.devices(*[(d, district, "water") for d, district in rivers.items()])
    city.devices(("air-1", "riverside", "air"), ("air-2", "harbour", "air"))
    for n, device_id in enumerate(rivers):
        city.breach(Reading(device_id, "water_level", 3.0, ms(n)))
    city.breach(Reading("air-1", "pm25", 60.0, ms(10)))
    city.breach(Reading("air-2", "pm25", 70.0, ms(11)))
    with TestClient(create_app(on_backend), headers=auth) as operator:
        ids = [t["id"] for t in operator.get("/api/v1/tickets").json()["data"]]
        assert len(ids) == 6
        for ticket_id in ids[:3]:
            assert operator.post(f"/api/v1/tickets/{ticket_id}/acknowledge").status_code == 200
        for ticket_id in ids[3:5]:
            assert operator.post(f"/api/v1/tickets/{ticket_id}/comment", json={"message": "crew on the way"}).is_success
        yield operator, city


@pytest.mark.parametrize(
    ("listing", "per_page"),
    [
        ("/api/v1/tickets", 4),
        ("/api/v1/tickets?status=open&service_code=flood", 2),
        ("/api/v1/anomalies", 4),
        ("/api/v1/anomalies?district=riverside", 1),
        ("/api/v1/audit", 5),
    ],
)
def test_operator_listings_come_in_pages_linked_by_next_with_the_total(queue, listing, per_page):
    operator, _ = queue
    sep = "&" if "?" in listing else "?"
    whole = operator.get(f"{listing}{sep}limit=1000")
    assert whole.status_code == 200, whole.text
    everything = whole.json()["data"]
    assert whole.headers["x-total-count"] == str(len(everything)) == str(whole.json()["count"])
    assert "link" not in whole.headers  # all on one page
    assert len(everything) > per_page  # so the listing below really is paged

    pages = all_pages(operator, f"{listing}{sep}limit={per_page}")
    assert len(pages) == -(-len(everything) // per_page)
    assert [item for page in pages for item in page["data"]] == everything  # the same items, each once, filters kept

    past_the_end = operator.get(f"{listing}{sep}offset={len(everything)}")
    assert past_the_end.json()["data"] == []
    assert past_the_end.headers["x-total-count"] == str(len(everything))
    assert "link" not in past_the_end.headers


def test_audit_pages_count_only_what_an_agency_key_may_see(queue):
    operator, city = queue
    water = key(city, "audit:read", agency="water")
    everyone = operator.get("/api/v1/audit", params={"limit": 1000}).json()["data"]
    visible = operator.get("/api/v1/audit", params={"limit": 1000}, headers=water).json()["data"]
    assert 1 < len(visible) < len(everyone)

    first = operator.get("/api/v1/audit", params={"limit": 1}, headers=water)
    assert first.headers["x-total-count"] == str(len(visible))
    pages = all_pages(operator, first.headers["link"][1 : first.headers["link"].index(">")], headers=water)
    assert [first.json()["data"][0], *(e for p in pages for e in p["data"])] == visible


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 5001}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"health": "asleep"}, "health"),
    ],
)
def test_devices_refuse_a_bad_page_with_a_message_naming_it(operator, params, named):
    response = operator.get("/api/v1/devices", params=params)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{named}: ")


# --------------------------------------------------------------------------- operator token

OPERATOR_PATHS = ("/api/v1/tickets", "/api/v1/readings?device_id=river-1&quantity=water_level")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer S3CRET"},
        {"Authorization": "Bearer s3cret2"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic s3cret"},
        {"Authorization": "s3cret"},
        {"X-API-Key": "wrong"},
    ],
)
def test_operator_api_needs_the_token(client, seeded, headers):
    for path in OPERATOR_PATHS:
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "s3cret" not in response.text


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}])
def test_operator_api_accepts_the_token(client, seeded, headers):
    response = client.get("/api/v1/tickets", headers=headers)
    assert response.status_code == 200
    assert response.json()["count"] == 3
    readings = client.get(
        "/api/v1/readings",
        params={"device_id": "river-1", "quantity": "water_level", "start": T0.isoformat(), "end": "2026-09-22"},
        headers=headers,
    )
    assert readings.status_code == 200
    assert [p["value"] for p in readings.json()["data"]] == [1.0, 3.0]


def test_public_surfaces_need_no_token(client, seeded):
    for path in ("/public/v1/status", "/public/v1/tickets", "/", "/healthz"):
        assert client.get(path).status_code == 200, path


def test_without_a_configured_token_the_operator_api_stays_closed(settings, seeded):
    with TestClient(create_app(settings.model_copy(update={"operator_token": None}))) as open_city:
        assert open_city.get("/public/v1/status").status_code == 200
        for path in OPERATOR_PATHS:
            assert open_city.get(path).status_code == 401
            assert open_city.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 401
            assert open_city.get(path, headers={"Authorization": "Bearer "}).status_code == 401


# --------------------------------------------------------------------------- status page


def test_status_page_shows_districts_values_and_tickets(client, seeded):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for shown in ("old town", "riverside", "hillside"):
        assert f"<h2>{shown}</h2>" in html
    assert "2.5 m" in html  # riverside's mean water level
    assert f"{FLOOD_TITLE} in riverside" in html
    assert f"{AIR_TITLE} in old-town" in html
    assert "2 open tickets" in html
    assert "stranger" not in html


def test_status_page_of_an_empty_city(client):
    html = client.get("/").text
    assert "No sensors have reported yet." in html
    assert "No tickets" in html


def test_status_page_escapes_html_in_data(city, client):
    district = '<b>bold</b>" onmouseover="alert(1)'
    city.devices(("evil-1", district, "water"))
    city.readings(Reading("evil-1", "water_level", 3.0, ms(0)))
    city.breach(Reading("evil-1", "water_level", 3.0, ms(0)))

    html = client.get("/").text
    assert "<b>bold</b>" not in html
    assert 'onmouseover="alert(1)' not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert f"{FLOOD_TITLE} in &lt;b&gt;bold&lt;/b&gt;&#34; onmouseover=&#34;alert(1)" in html
    # The JSON API returns the data unchanged; escaping is the page's job.
    districts = client.get("/public/v1/status").json()["districts"]
    assert [d["district"] for d in districts] == [district]

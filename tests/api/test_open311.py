"""Open311 GeoReport v2: the specification's field names, resident reports becoming tickets, its errors."""

from __future__ import annotations

from citysense.wire import Reading
from tests.api.support import sensor_ticket

# GeoReport v2, "GET Service List" and "GET Service Requests" response fields.
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


def test_service_list_and_definition(client):
    services = client.get("/open311/v2/services.json").json()
    assert all(set(s) == SERVICE_FIELDS for s in services)
    codes = {s["service_code"] for s in services}
    assert {"flood", "air_quality", "waste", "road_damage"} <= codes
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)
    assert client.get("/open311/v2/services/flood.json").json() == {"service_code": "flood", "attributes": []}
    missing = client.get("/open311/v2/services/teleport.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "service_code 'teleport' not found"}]


def test_resident_report_becomes_a_ticket_in_the_right_district(client):
    created = client.post(
        "/open311/v2/requests.json",
        data={
            "service_code": "waste",
            "lat": "-6.9667",
            "long": "110.4167",
            "description": "Bins overflowing at the market",
            "email": "warga@example.org",
        },
    )
    assert created.status_code == 201
    (receipt,) = created.json()
    assert set(receipt) == {"service_request_id", "service_notice", "account_id"}
    request_id = receipt["service_request_id"]

    (request,) = client.get(f"/open311/v2/requests/{request_id}.json").json()
    assert set(request) == REQUEST_FIELDS
    assert (request["status"], request["service_code"], request["agency_responsible"]) == (
        "open",
        "waste",
        "sanitation",
    )
    assert request["description"] == "Bins overflowing at the market"
    assert (request["lat"], request["long"]) == (-6.9667, 110.4167)
    assert request["status_notes"] == "A resident reported: Bins overflowing at the market"

    ticket = client.get(f"/public/v1/tickets/{request_id}").json()
    assert (ticket["district"], ticket["source"], ticket["status"]) == ("kota-lama", "resident", "open")
    assert "warga@example.org" not in str(ticket)  # contact details are never public


def test_requests_filters_follow_the_specification(city, client):
    city.devices(("river-1", "sungai-barat", "water"))
    flood = sensor_ticket(city, Reading("river-1", "water_level", 3.0, _now_ms()), "sungai-barat")
    assert flood is not None
    client.post("/open311/v2/requests.json", data={"service_code": "road_damage", "address_string": "Jl. Pemuda 12"})
    everything = client.get("/open311/v2/requests.json").json()
    assert [r["service_code"] for r in everything] == ["road_damage", "flood"]
    flood_only = client.get("/open311/v2/requests.json", params={"service_code": "flood,drainage"}).json()
    assert [r["service_request_id"] for r in flood_only] == [str(flood.ticket_id)]
    by_id = client.get("/open311/v2/requests.json", params={"service_request_id": f"{flood.ticket_id},999"}).json()
    assert [r["service_request_id"] for r in by_id] == [str(flood.ticket_id)]
    assert client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
    assert len(client.get("/open311/v2/requests.json", params={"status": "open,closed"}).json()) == 2
    old = client.get("/open311/v2/requests.json", params={"end_date": "2020-01-01T00:00:00Z"}).json()
    assert old == []


def test_closed_requests_carry_the_resolution_note(city, client):
    client.post("/open311/v2/requests.json", data={"service_code": "streetlight", "lat": "-6.99", "long": "110.42"})
    from tests.api.support import key

    crew = key(city, "tickets:write")
    assert client.post("/api/v1/tickets/1/resolve", headers=crew, json={"note": "Lamp replaced."}).status_code == 200
    (request,) = client.get("/open311/v2/requests/1.json").json()
    assert request["status"] == "closed"
    assert request["status_notes"] == "Resolved by the public works agency. Lamp replaced."


def test_errors_use_the_specification_shape(client):
    cases = [
        ({}, 400, "service_code is required"),
        ({"service_code": "teleport", "lat": "1", "long": "1"}, 404, "service_code 'teleport' not found"),
        ({"service_code": "waste"}, 400, "a location is required"),
        ({"service_code": "waste", "lat": "north", "long": "1"}, 400, "lat and long must both be decimal degrees"),
        ({"service_code": "waste", "lat": "95", "long": "1"}, 400, "lat must be within -90..90"),
    ]
    for form, code, message in cases:
        response = client.post("/open311/v2/requests.json", data=form)
        assert response.status_code == code, form
        (error,) = response.json()
        assert error["code"] == code
        assert message in error["description"]
    bad_status = client.get("/open311/v2/requests.json", params={"status": "pending"})
    assert bad_status.status_code == 400
    assert client.get("/open311/v2/requests.json", params={"start_date": "soon"}).status_code == 400
    assert client.get("/open311/v2/requests/abc.json").status_code == 404
    # Digits that are not ASCII ('¹' passes str.isdigit but not int) are refused, not a server error.
    assert client.get("/open311/v2/requests/\u00b9.json").status_code == 404
    assert client.get("/open311/v2/requests.json", params={"service_request_id": "1,\u00b9"}).status_code == 400
    assert client.get("/public/v1/tickets").json()["count"] == 0  # nothing was created by bad input


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)

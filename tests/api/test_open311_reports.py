"""Resident reports through Open311: anonymous, throttled per address, near-duplicates merged, keys when asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.open311_reports import ReportRefusedError, submit_report
from citysense.db import connect
from launcher.cli import app as cli
from tests.api.conftest import City

POTHOLE = {
    "service_code": "road_damage",
    "lat": "-6.2001",
    "long": "106.8001",
    "description": "Deep pothole by the bus stop",
}


def _post(client: TestClient, form: dict[str, str], fmt: str = "json"):
    return client.post(f"/open311/v2/requests.{fmt}", data=form)


def _tickets(client: TestClient) -> int:
    return int(client.get("/public/v1/tickets").json()["count"])


def test_an_address_gets_five_reports_per_ten_minutes_then_429(client):
    accepted = [_post(client, {**POTHOLE, "lat": f"{-6.2 - i / 100:.4f}"}) for i in range(5)]
    assert [r.status_code for r in accepted] == [201] * 5
    refused = _post(client, {**POTHOLE, "lat": "-6.3"})
    assert refused.status_code == 429
    (error,) = refused.json()
    assert error["code"] == 429
    assert "at most 5 per 10 minutes" in error["description"]
    assert refused.headers["retry-after"] == "600"
    assert _tickets(client) == 5


def test_the_throttle_is_a_setting(settings, city):
    with TestClient(create_app(settings.model_copy(update={"open311_max_reports": 2}))) as client:
        codes = [_post(client, {**POTHOLE, "lat": f"{-6.2 - i / 100:.4f}"}).status_code for i in range(3)]
    assert codes == [201, 201, 429]


def test_a_near_identical_report_of_an_open_ticket_is_merged_into_it(client):
    first = _post(client, POTHOLE).json()[0]["service_request_id"]
    # 20 m away, different punctuation and case: the same pothole.
    again = _post(client, {**POTHOLE, "lat": "-6.2003", "description": "deep pothole, by the bus stop!"})
    assert again.status_code == 201
    assert again.json()[0]["service_request_id"] == first
    assert "already reported" in again.json()[0]["service_notice"]
    # Another place or other words: a new ticket.
    elsewhere = _post(client, {**POTHOLE, "lat": "-6.21"}).json()[0]["service_request_id"]
    other_words = _post(client, {**POTHOLE, "description": "Streetlight pole leaning over"}).json()[0]
    assert len({first, elsewhere, other_words["service_request_id"]}) == 3
    assert _tickets(client) == 3
    timeline = client.get(f"/public/v1/tickets/{first}").json()["timeline"]
    assert [step["message"] for step in timeline].count("Another resident reported this.") == 1


def test_every_location_form_is_accepted_and_kept(client):
    typed = _post(client, {"service_code": "waste", "address_string": "Jl. Merdeka 12, Kota Lama"})
    by_id = _post(client, {"service_code": "waste", "address_id": "KL-00042", "description": "overflowing"})
    assert (typed.status_code, by_id.status_code) == (201, 201)
    typed_id, by_id_id = typed.json()[0]["service_request_id"], by_id.json()[0]["service_request_id"]
    (shown,) = client.get(f"/open311/v2/requests/{typed_id}.json").json()
    assert (shown["address"], shown["lat"], shown["long"]) == ("Jl. Merdeka 12, Kota Lama", None, None)
    (shown_id,) = client.get(f"/open311/v2/requests/{by_id_id}.json").json()
    assert shown_id["address_id"] == "KL-00042"
    half = _post(client, {"service_code": "waste", "lat": "-6.2"})
    assert half.status_code == 400
    assert "lat and long must both be decimal degrees" in half.json()[0]["description"]


def test_service_request_id_overrides_every_other_filter(client):
    created = _post(client, POTHOLE).json()[0]["service_request_id"]
    assert client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []
    found = client.get(
        "/open311/v2/requests.json",
        params={
            "service_request_id": created,
            "status": "closed",
            "service_code": "flood",
            "end_date": "2001-01-01T00:00:00Z",
        },
    ).json()
    assert [r["service_request_id"] for r in found] == [created]


def test_a_date_before_year_one_in_utc_is_a_400_not_a_500(client):
    response = client.get("/open311/v2/requests.json", params={"start_date": "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 400
    assert "W3C datetimes" in response.json()[0]["description"]


def test_an_unknown_jurisdiction_is_refused_and_ours_is_accepted(client):
    for path in ("/open311/v2/services.json", "/open311/v2/requests.json", "/open311/v2/services/flood.json"):
        refused = client.get(path, params={"jurisdiction_id": "elsewhere.gov"})
        assert refused.status_code == 404
        assert "jurisdiction_id 'elsewhere.gov' not found" in refused.json()[0]["description"]
        assert client.get(path, params={"jurisdiction_id": "citysense"}).status_code == 200
    post = _post(client, {**POTHOLE, "jurisdiction_id": "elsewhere.gov"})
    assert post.status_code == 404
    assert _tickets(client) == 0


def test_errors_under_open311_are_always_in_the_specification_shape(client):
    for method, path in (
        ("GET", "/open311/v2/bogus.json"),
        ("GET", "/open311/whatever"),
        ("PUT", "/open311/v2/requests.json"),
    ):
        response = client.request(method, path)
        assert response.status_code == 404
        (error,) = response.json()
        assert set(error) == {"code", "description"}
    too_long = client.get("/open311/v2/requests.json", params={"status": "open," * 20})
    assert too_long.status_code == 400
    assert too_long.json() == [{"code": 400, "description": "status is longer than 32 characters"}]
    xml = client.get("/open311/v2/services/teleport.xml")
    assert xml.status_code == 404
    assert xml.headers["content-type"].startswith("text/xml")
    assert b"<errors><error><code>404</code><description>service_code 'teleport' not found</description>" in xml.content


@pytest.fixture
def keyed(settings, city) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"open311_require_key": True}))) as client:
        yield client


def _cli_key(settings, scope: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["keys", "create", "--name", "fixmystreet", "--scope", scope],
        env={"CITYSENSE_TICKETS_URL": settings.tickets_url},
    )
    assert result.exit_code == 0, result.output
    return next(word for word in result.output.split() if word.startswith("cs_"))


def test_with_require_key_only_an_open311_submit_key_may_post(settings, keyed):
    anonymous = _post(keyed, POTHOLE)
    assert anonymous.status_code == 403
    assert "api_key is required" in anonymous.json()[0]["description"]
    wrong_scope = _post(keyed, {**POTHOLE, "api_key": _cli_key(settings, "tickets:read")})
    assert wrong_scope.status_code == 403
    assert _post(keyed, {**POTHOLE, "api_key": "cs_000000000000_forged"}).status_code == 403
    good = _post(keyed, {**POTHOLE, "api_key": _cli_key(settings, "open311:submit")})
    assert good.status_code == 201
    assert _tickets(keyed) == 1


def test_the_status_pages_own_form_is_the_built_in_web_client_and_needs_no_key(settings, city: City):
    keyed_settings = settings.model_copy(update={"open311_require_key": True})
    sessions = connect(settings.tickets_url)
    from api.geo import load_city

    done = submit_report(
        sessions, keyed_settings, load_city(None), client="web", address="203.0.113.9", service_code="waste",
        address_string="Pasar Baru", description="bins overflowing",
    )  # fmt: skip
    assert done.merged is False
    with pytest.raises(ReportRefusedError) as refused:
        submit_report(
            sessions, keyed_settings, load_city(None), client="open311", address="203.0.113.9", service_code="waste",
            address_string="Pasar Baru", description="bins overflowing",
        )  # fmt: skip
    assert refused.value.code == 403


def test_throttle_and_merge_hold_on_both_database_backends(tickets_url, tmp_path):
    """The same rules on SQLite and PostgreSQL (migration 0008 on both)."""
    from api.geo import load_city
    from citysense.settings import ApiSettings

    settings = ApiSettings(data_dir=tmp_path, tickets_url=tickets_url, open311_max_reports=3)
    sessions, city = connect(tickets_url), load_city(None)

    def send(lat: str, text: str = "Bins overflowing at the market") -> int:
        done = submit_report(
            sessions, settings, city, client="open311", address="198.51.100.7", service_code="waste", lat=lat,
            long="106.8", description=text,
        )  # fmt: skip
        return done.ticket_id

    first = send("-6.2")
    assert send("-6.2001", "bins overflowing at the market!") == first  # merged: same place, same words
    assert send("-6.25") != first
    with pytest.raises(ReportRefusedError) as throttled:
        send("-6.3")
    assert throttled.value.code == 429
    # Another address is not held back by this one.
    other = submit_report(
        sessions, settings, city, client="open311", address="198.51.100.8", service_code="waste", lat="-6.3",
        long="106.8",
    )  # fmt: skip
    assert other.merged is False

"""Open311 GeoReport v2 conformance: a real client (`georeport` from PyPI) in JSON and XML mode.

The API runs under uvicorn on a loopback port; every response the client gets, and every other
response the test asks for (discovery, POST, errors), is validated against the specification's
response tables written as schemas (tests/api/open311_schemas: JSON Schema and an XSD).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import requests
import xmlschema
from georeport import GeoReport
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from citysense.wire import Reading
from tests.api.support import seed_default_city, sensor_ticket, served

SCHEMAS = Path(__file__).parent / "open311_schemas"
XSD = xmlschema.XMLSchema(str(SCHEMAS / "georeport_v2.xsd"))


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        contents = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(contents)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def _json_validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return Draft202012Validator(schema, registry=REGISTRY)


def _schema_for(url: str, status: int, method: str) -> str:
    path = httpx.URL(url).path
    if status >= 400:
        return "errors"
    if "discovery." in path:
        return "discovery"
    if "/services/" in path:
        return "service_definition"
    if path.rsplit("/", 1)[-1].startswith("services."):
        return "services"
    return "created" if method == "POST" else "service_requests"


class Checked:
    """Every HTTP response seen, validated against the schema its URL and status call for."""

    def __init__(self) -> None:
        self.validated: list[tuple[str, str, int]] = []

    def check(self, method: str, url: str, status: int, content_type: str, body: bytes) -> None:
        name = _schema_for(url, status, method)
        if url.split("?")[0].endswith(".xml"):
            assert content_type.startswith("text/xml"), (url, content_type)
            assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), url
            XSD.validate(body.decode("utf-8"))
            root = ET.fromstring(body).tag
            expected_root = {"created": "service_requests"}.get(name, name)
            assert root == expected_root, (url, root)
        else:
            assert content_type.startswith("application/json"), (url, content_type)
            errors = sorted(_json_validator(name).iter_errors(json.loads(body)), key=str)
            assert not errors, (url, [e.message for e in errors])
        self.validated.append((method, url, status))


@pytest.fixture
def live(settings, city) -> Iterator[tuple[str, Any]]:
    """The API under uvicorn with a seeded city: a flood ticket, later resolved, and a resident report."""
    now = seed_default_city(city, water=2.9)
    flood = sensor_ticket(city, Reading("sungai-barat-water-01", "water_level", 2.9, now), "sungai-barat")
    with served(settings) as base:
        yield base, flood


@pytest.fixture
def checked(monkeypatch) -> Checked:
    """Observe what the georeport client receives (it calls `requests.get`) and validate each response."""
    seen = Checked()
    real_get = requests.get

    def get(url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = real_get(url, *args, **kwargs)
        seen.check("GET", response.url, response.status_code, response.headers["content-type"], response.content)
        return response

    monkeypatch.setattr("georeport.georeport.requests.get", get)
    return seen


def _fetch(seen: Checked, method: str, url: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, url, timeout=10, **kwargs)
    seen.check(method, str(response.url), response.status_code, response.headers["content-type"], response.content)
    return response


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_georeport_client_reads_every_endpoint(live, checked, fmt):
    base, flood = live
    created = _fetch(
        checked,
        "POST",
        f"{base}/open311/v2/requests.{fmt}",
        data={"service_code": "road_damage", "lat": "-6.2", "long": "106.8", "description": f"pothole ({fmt})"},
    )
    assert created.status_code == 201
    client = GeoReport(f"{base}/open311/v2", jurisdiction="citysense", output_format=fmt)

    services = client.get_service_list()
    assert {"flood", "air_quality", "road_damage"} <= {s["service_code"] for s in services}
    definition = client.get_service_definition("flood")
    assert definition["service_code"] == "flood"

    every = client.get_service_requests()
    items = every if isinstance(every, list) else [every]
    ids = {r["service_request_id"] for r in items}
    assert str(flood.ticket_id) in ids

    # service_request_id overrides the other filters: the open flood ticket even when asking for closed ones.
    one = client.get_service_requests(service_request_id=str(flood.ticket_id), status="closed")
    one = one if isinstance(one, list) else [one]
    assert [r["service_request_id"] for r in one] == [str(flood.ticket_id)]
    assert one[0]["status"] == "open"

    single = client.get_service_request(str(flood.ticket_id))
    assert single["service_code"] == "flood"
    assert len(checked.validated) >= 6


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_discovery_errors_and_posts_validate_in_both_formats(live, checked, fmt):
    base, _ = live
    discovery = _fetch(checked, "GET", f"{base}/open311/discovery.{fmt}")
    assert discovery.status_code == 200
    assert f"{base}/open311/v2".encode() in discovery.content
    assert _fetch(checked, "GET", f"{base}/open311/v2/discovery.{fmt}").status_code == 200
    errors = [
        ("GET", f"/open311/v2/services/teleport.{fmt}", {}, 404),
        ("GET", f"/open311/v2/nowhere.{fmt}", {}, 404),
        ("GET", "/open311/v3/services.json", {}, 404),
        ("GET", f"/open311/v2/requests.{fmt}", {"params": {"start_date": "0001-01-01T00:00:00+01:00"}}, 400),
        ("GET", f"/open311/v2/requests.{fmt}", {"params": {"service_code": "x" * 3000}}, 400),
        ("GET", f"/open311/v2/requests.{fmt}", {"params": {"service_code": "teleport"}}, 404),
        ("GET", f"/open311/v2/services.{fmt}", {"params": {"jurisdiction_id": "elsewhere.gov"}}, 404),
        ("POST", f"/open311/v2/requests.{fmt}", {"data": {"service_code": "teleport", "lat": "1", "long": "1"}}, 404),
        ("POST", f"/open311/v2/requests.{fmt}", {"data": {"service_code": "waste"}}, 400),
        ("POST", f"/open311/v2/requests.{fmt}", {"data": {"service_code": "waste", "description": "y" * 5000}}, 400),
        ("POST", f"/open311/v2/requests.{fmt}", {"data": {"service_code": "waste", "jurisdiction_id": "x"}}, 404),
        ("DELETE", f"/open311/v2/requests/1.{fmt}", {}, 404),
    ]
    for method, path, kwargs, status in errors:
        response = _fetch(checked, method, f"{base}{path}", **kwargs)
        assert response.status_code == status, (method, path, response.text)
    by_address = _fetch(
        checked, "POST", f"{base}/open311/v2/requests.{fmt}", data={"service_code": "waste", "address_id": "A-1042"}
    )
    assert by_address.status_code == 201
    assert len(checked.validated) == 2 + len(errors) + 1


@pytest.fixture
def guarded(settings, city) -> Iterator[str]:
    """The API under uvicorn with the smallest body limit and a rate limit a test can reach quickly."""
    tight = settings.model_copy(
        update={"max_body_bytes": 1024, "rate_limit_per_s": 0.05, "rate_limit_burst": 3, "ticket_events": False}
    )
    with served(tight) as base:
        yield base


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_body_limit_and_rate_limit_answer_open311_errors_under_open311_only(guarded, fmt):
    """413 and 429 come from middleware in front of the routes; under /open311 they still speak GeoReport v2."""
    base, seen = guarded, Checked()
    form = {"content-type": "application/x-www-form-urlencoded"}
    announced = _fetch(seen, "POST", f"{base}/open311/v2/requests.{fmt}", data={"description": "x" * 2000})
    assert announced.status_code == 413
    assert _described(announced, fmt) == (413, "request body larger than 1024 bytes")

    # A chunked body has no Content-Length: it is cut off at the chunk that crosses the limit.
    chunks = iter([b"service_code=waste&description=" + b"y" * 600, b"y" * 600, b"y" * 600])
    streamed = _fetch(seen, "POST", f"{base}/open311/v2/requests.{fmt}", content=chunks, headers=form)
    assert streamed.status_code == 413
    assert streamed.headers["connection"] == "close"
    assert _described(streamed, fmt) == (413, "request body larger than 1024 bytes")

    # The streamed request reached the rate limiter and took one of the burst's three; two more, then
    # the limiter answers: 429, Retry-After, the specification's shape.
    statuses = [_fetch(seen, "GET", f"{base}/open311/v2/services.{fmt}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = _fetch(seen, "GET", f"{base}/open311/v2/requests.{fmt}", params={"status": "open"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    code, description = _described(limited, fmt)
    assert code == 429
    assert description.startswith("too many requests from this address; retry after ")
    assert len(seen.validated) == 2 + 3 + 1

    # Everywhere else the same refusals keep the API's own shape.
    public = httpx.get(f"{base}/public/v1/tickets", timeout=10)
    assert public.status_code == 429
    assert public.headers["retry-after"] == limited.headers["retry-after"]
    assert "too many requests" in public.json()["detail"]
    operator = httpx.post(f"{base}/api/v1/webhooks", content=b"{}" + b" " * 2000, timeout=10)
    assert operator.status_code == 413
    assert operator.json() == {"detail": "request body larger than 1024 bytes"}


def _described(response: httpx.Response, fmt: str) -> tuple[int, str]:
    """The (code, description) of a GeoReport v2 error list of one error."""
    if fmt == "xml":
        (error,) = ET.fromstring(response.content).findall("error")
        return int(error.findtext("code", "")), error.findtext("description", "")
    (error,) = response.json()
    return error["code"], error["description"]

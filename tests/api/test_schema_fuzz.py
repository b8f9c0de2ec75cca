"""Schemathesis against the served OpenAPI schema: no generated request makes the API fail with a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from citysense.keys import SCOPES, create_key
from citysense.settings import ApiSettings
from tests.api.conftest import City
from tests.api.support import seed_default_city, served

MAX_EXAMPLES = 15  # per operation: keeps the whole run to seconds on two cores


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A seeded city served by uvicorn; yields (base URL, a key with every scope)."""
    settings = ApiSettings(data_dir=tmp_path_factory.mktemp("fuzz"), rate_limit_per_s=10_000, rate_limit_burst=10_000)
    city = City(settings)
    seed_default_city(city)
    token = create_key(city.sessions, name="fuzz", scopes=list(SCOPES)).key
    with served(settings) as url:
        yield url, token


def _send(http: httpx.Client, kwargs: dict[str, Any]) -> httpx.Response:
    """Send a generated case (schemathesis describes it in `requests` terms) with httpx."""
    content: bytes | None = None
    if "json" in kwargs:
        content = json.dumps(kwargs["json"]).encode()
    elif isinstance(kwargs.get("data"), dict):
        content = urlencode({k: str(v) for k, v in kwargs["data"].items()}).encode()
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        content = data if isinstance(data, bytes) else str(data).encode()
    return http.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=kwargs.get("headers"), content=content
    )


def test_no_generated_request_gets_a_server_error(live):
    url, token = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    operations = 0
    with httpx.Client(timeout=30) as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @given(case=operation.as_strategy())
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def exercise(case):
                kwargs = case.as_transport_kwargs(base_url=url, headers={"Authorization": f"Bearer {token}"})
                response = _send(http, kwargs)
                assert response.status_code < 500, f"{response.status_code} for {kwargs}: {response.text[:300]}"

            try:
                exercise()
            except AssertionError as exc:  # collect every failing operation, not just the first
                failures.append(f"{operation.label}: {exc}")
    assert operations >= 30  # every surface is in the schema: public, operator, Open311, health
    assert not failures, "\n\n".join(failures)

"""Schemathesis against the served OpenAPI schema: no generated request makes the API fail with a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from citysense.keys import SCOPES, create_key
from citysense.settings import ApiSettings
from tests.api.conftest import City
from tests.api.support import seed_default_city, served

MAX_EXAMPLES = 15  # per operation: keeps the whole run to seconds on two cores


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A seeded city served by uvicorn; yields (base URL, a key with every scope)."""
    settings = ApiSettings(
        data_dir=tmp_path_factory.mktemp("fuzz"), rate_limit_per_s=10_000, rate_limit_burst=10_000
    )
    city = City(settings)
    seed_default_city(city)
    token = create_key(city.sessions, name="fuzz", scopes=list(SCOPES)).key
    with served(settings) as url:
        yield url, token


@pytest.fixture(scope="module")
def api_schema(live):
    url, _ = live
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, live):
    _, token = live
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=[not_a_server_error])

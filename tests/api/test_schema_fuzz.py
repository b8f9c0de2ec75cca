"""Schemathesis against the served OpenAPI schema: no generated request makes the API fail with a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

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


def test_no_generated_request_gets_a_server_error(live):
    url, token = live
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def exercise(case):
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            case.validate_response(response, checks=[not_a_server_error])

        try:
            exercise()
        except Exception as exc:  # collect every failing operation, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 30  # every surface is in the schema: public, operator, Open311, health
    assert not failures, "\n\n".join(failures)

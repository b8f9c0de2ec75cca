"""Fixtures shared by every test folder: real brokers and databases, one per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.servers import Mosquitto, mosquitto, postgres_database


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port, for this test alone."""
    with mosquitto(tmp_path / "mosquitto") as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def tickets_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The relational database on both backends the city runs on."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'citysense.db'}"
    else:
        with postgres_database() as url:
            yield url

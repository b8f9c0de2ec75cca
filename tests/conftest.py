"""Fixtures shared by every test folder: real brokers and databases, one per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.servers import Mosquitto, mosquitto, postgres_database
from tests.support.influxdb import InfluxDB, influxdb


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


@pytest.fixture(scope="module")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """A real InfluxDB server for one test module (each test takes a fresh database on it)."""
    with influxdb(tmp_path_factory.mktemp("influxdb")) as server:
        yield server


@pytest.fixture(params=["sqlite", "influxdb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty time-series store on both adapters the city runs on (tests/timeseries narrows it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'timeseries.db'}"
    server: InfluxDB = request.getfixturevalue("influx_server")
    return server.url(f"t{uuid.uuid4().hex[:12]}")

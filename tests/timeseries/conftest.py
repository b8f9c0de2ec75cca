"""Adapters the store tests run against, by name.

These tests pin SQLite's exact semantics (a repeated write returns 0 new readings). The protocol lets
InfluxDB return how many readings it accepted instead, so it joins ADAPTERS only with a server fixture
and a relaxed count check; tests/timeseries/test_conformance.py runs the shared contract on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from citysense.timeseries import TimeSeriesStore, open_store
from tests.support.influxdb import InfluxDB

ADAPTERS = ["sqlite"]


@pytest.fixture(params=ADAPTERS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store of each adapter, for this test alone."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'timeseries.db'}"
    raise NotImplementedError(request.param)


@pytest.fixture
def store(store_url: str) -> Iterator[TimeSeriesStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "influxdb"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TimeSeriesStore]:
    """An empty store of each adapter (InfluxDB: a fresh database on the module's server)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'timeseries.db'}"
    else:
        server: InfluxDB = request.getfixturevalue("influx_server")
        url = server.url(f"t{uuid.uuid4().hex[:12]}")
    store = open_store(url)
    yield store
    store.close()

"""Every panel's query, with its variables substituted, returns rows from the real servers."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from dashboards.render import build_all
from tests.dashboards.conftest import MINUTE_MS, SILENT_DEVICE
from tests.dashboards.support import panel_queries

MODELS = build_all()
QUERIES = panel_queries(MODELS)


@pytest.fixture(scope="module")
def variables(city_servers):
    servers, time_range = city_servers
    return {uid: servers.resolve_variables(model, time_range) for uid, model in MODELS.items()}


def test_every_variable_query_offers_values(city_servers, variables):
    assert variables["citysense-overview"]["district"] == [
        "bukit-hijau", "industri-timur", "kota-lama", "pelabuhan", "sungai-barat", "taman-sari",
    ]  # fmt: skip
    assert "sungai-barat-water-01" in variables["citysense-water"]["device"]
    assert all(d.split("-")[-2] == "air" for d in variables["citysense-air"]["device"])
    assert "water" in variables["citysense-devices"]["kind"]
    # The tickets dashboard's districts come from the registry in PostgreSQL.
    assert "sungai-barat" in variables["citysense-tickets"]["district"]
    for uid, resolved in variables.items():
        for name, values in resolved.items():
            assert values, f"{uid}: variable {name} offers nothing"


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_panel_query_returns_rows(city_servers, variables, query):
    servers, time_range = city_servers
    rows = servers.run(query, variables[query.dashboard], time_range)
    assert rows, f"{query.id} returned no rows"
    # The last column is a value in every query (the time and tags come first).
    assert any(row[-1] is not None for row in rows), f"{query.id}: only empty values"


def _query(dashboard, title):
    return next(q for q in QUERIES if q.dashboard == dashboard and q.where == title)


def test_a_silent_device_shows_silent_in_the_reporting_timeline(city_servers, simulated_hour, variables):
    servers, time_range = city_servers
    query = _query("citysense-devices", "Reporting, per device")
    rows = servers.run(query, variables["citysense-devices"], time_range)
    # The timeline's half hours are absolute and the range ends at "now", a little after the
    # simulated hour: the newest half hour may have begun after the last reading. Read the half
    # hour that holds the hour's last few minutes, all of them inside the gauge's 35 silent ones.
    inside = simulated_hour[-1].time_ms - 3 * MINUTE_MS
    by_device: dict[str, int] = {}
    for device, time_ms, count in rows:
        if time_ms <= inside:
            by_device[device] = count  # buckets come oldest first: the last one kept holds `inside`
    assert by_device[SILENT_DEVICE] == 0
    assert by_device["taman-sari-water-01"] > 0
    reporting = servers.run(
        _query("citysense-devices", "Devices reporting"), variables["citysense-devices"], time_range
    )
    seen = servers.run(
        _query("citysense-devices", "Devices seen in the time range"), variables["citysense-devices"], time_range
    )
    assert seen[0][1] - reporting[0][1] == 1  # exactly the silent gauge


def test_ticket_panels_show_the_open_flood_and_the_resolved_pollution(city_servers, variables):
    servers, time_range = city_servers
    chosen = variables["citysense-tickets"]
    open_rows = servers.run(_query("citysense-tickets", "Open tickets by age"), chosen, time_range)
    assert [(row[2], row[3]) for row in open_rows] == [("sungai-barat", "flood")]
    assert open_rows[0][7] > 0  # its age in seconds
    resolved = servers.run(_query("citysense-tickets", "Time to resolve by type"), chosen, time_range)
    assert [row[0] for row in resolved] == ["air_quality"]
    assert resolved[0][2] > 0
    annotations = servers.run(_query("citysense-air", "annotation Tickets"), variables["citysense-air"], time_range)
    assert len(annotations) == 1
    assert "air" in annotations[0][3]
    start, end = annotations[0][0], annotations[0][1]
    assert time_range.start_ms <= start < end <= datetime.now(UTC).timestamp() * 1000


def _registry(servers, district):
    with psycopg.connect(servers.postgres) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM devices WHERE district = %s", (district,))]


def test_each_district_panel_shows_exactly_its_registry_devices(city_servers, variables):
    """District is a field of each reading, not a tag: the per-district panels filter on it, and what
    they show must be what the registry's devices of that district delivered (a tag-indexed query)."""
    servers, time_range = city_servers
    chosen = variables["citysense-overview"]
    panel = {q.ref_id: q for q in QUERIES if q.dashboard == "citysense-overview" and q.where == "Now in $district"}
    assert sorted(panel) == ["A", "B", "C", "D"]
    for district in chosen["district"]:
        devices = "|".join(_registry(servers, district))
        one = {**chosen, "district": [district]}
        reporting = servers.run(panel["D"], one, time_range)
        expected = servers.influx(
            'SELECT count("last") FROM (SELECT last("value") FROM "readings"'
            f' WHERE time > now() - 30m AND "device" =~ /^({devices})$/ GROUP BY "device")'
        )
        assert [row[-1] for row in reporting] == [row[-1] for row in expected], district
        assert reporting, district
        assert reporting[0][-1] > 0, district
        highest = servers.run(panel["B"], one, time_range)
        expected = servers.influx(
            'SELECT max("value") FROM "readings" WHERE "quantity" = \'water_level\''
            f' AND time > now() - 15m AND "device" =~ /^({devices})$/'
        )
        assert [row[-1] for row in highest] == [row[-1] for row in expected], district


def test_every_per_district_panel_has_rows_for_a_district_with_such_devices(city_servers, variables):
    servers, time_range = city_servers
    repeated = [q for q in QUERIES if "$district" in q.where and q.dialect == "influxql"]
    assert len(repeated) >= 10
    for query in repeated:
        chosen = variables[query.dashboard]
        shown = [d for d in chosen["district"] if servers.run(query, {**chosen, "district": [d]}, time_range)]
        assert shown, f"{query.id}: no district shows anything"


def test_fleet_health_panels_show_the_silent_nodes_queue_and_ingests_rejects(city_servers, variables):
    servers, time_range = city_servers
    chosen = variables["citysense-devices"]
    depth = servers.run(_query("citysense-devices", "Queue depth, per device"), chosen, time_range)
    deepest: dict[str, float] = {}
    for device, _time, value in depth:
        if value is not None:
            deepest[device] = max(deepest.get(device, 0.0), value)
    assert max(deepest, key=deepest.__getitem__) == SILENT_DEVICE
    assert deepest[SILENT_DEVICE] >= 100
    assert sorted(v for d, v in deepest.items() if d != SILENT_DEVICE)[-1] == 0
    rejects = servers.run(
        _query("citysense-platform", "Ingest rejects per minute, by reason"),
        variables["citysense-platform"],
        time_range,
    )
    assert {row[0] for row in rejects} == {"rejected.not_json"}
    assert sum(row[-1] for row in rejects) == 12  # one every 5 minutes of the simulated hour

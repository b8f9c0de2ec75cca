"""Pushing decides per object from what Grafana holds; a second push changes nothing.

No Grafana server can run in this test environment, so these tests cover the decisions the
push makes on answers shaped as Grafana's HTTP API documents them (`GET /api/datasources/uid/..`,
`GET /api/dashboards/uid/..`), not Grafana itself.
"""

from __future__ import annotations

import copy

from dashboards.push import Action, DataSourceSettings, datasource_payloads, plan_dashboard, plan_datasource
from dashboards.render import build_all

SETTINGS = DataSourceSettings(
    influx_url="http://influxdb:8086", postgres_host="postgres:5432", influx_token="t0k", postgres_password="pw"
)


def _as_grafana_returns_datasource(payload):
    """Grafana's answer: ids and bookkeeping added, secrets replaced by flags."""
    held = {k: v for k, v in payload.items() if k != "secureJsonData"}
    held.update(id=7, orgId=1, version=3, readOnly=False, basicAuth=False, database="", withCredentials=False)
    held["secureJsonFields"] = dict.fromkeys(payload.get("secureJsonData", {}), True)
    held["jsonData"] = {**payload["jsonData"], "keepCookies": []}  # Grafana may add defaults
    return held


def _as_grafana_returns_dashboard(model, folder_uid="citysense"):
    held = copy.deepcopy(model)
    held.update(id=42, version=5)
    return {"dashboard": held, "meta": {"folderUid": folder_uid, "slug": "x", "version": 5}}


def test_missing_objects_are_created():
    for payload in datasource_payloads(SETTINGS):
        assert plan_datasource(None, payload) is Action.CREATE
    for model in build_all().values():
        assert plan_dashboard(None, model, folder_uid="citysense") is Action.CREATE


def test_a_second_push_finds_everything_unchanged():
    for payload in datasource_payloads(SETTINGS):
        assert plan_datasource(_as_grafana_returns_datasource(payload), payload) is Action.UNCHANGED
    for model in build_all().values():
        assert plan_dashboard(_as_grafana_returns_dashboard(model), model, folder_uid="citysense") is Action.UNCHANGED


def test_a_changed_address_or_database_is_updated():
    influx, postgres = datasource_payloads(SETTINGS)
    held = _as_grafana_returns_datasource(influx)
    moved = datasource_payloads(DataSourceSettings(influx_url="http://tsdb:8086", postgres_host="postgres:5432"))[0]
    assert plan_datasource(held, moved) is Action.UPDATE
    renamed = datasource_payloads(
        DataSourceSettings(influx_url="http://influxdb:8086", postgres_host="postgres:5432", postgres_database="city")
    )[1]
    assert plan_datasource(_as_grafana_returns_datasource(postgres), renamed) is Action.UPDATE


def test_secrets_are_rewritten_only_when_asked():
    influx, _ = datasource_payloads(SETTINGS)
    held = _as_grafana_returns_datasource(influx)
    assert plan_datasource(held, influx) is Action.UNCHANGED
    assert plan_datasource(held, influx, update_secrets=True) is Action.UPDATE


def test_an_edited_or_moved_dashboard_is_put_back():
    model = build_all()["citysense-air"]
    edited = _as_grafana_returns_dashboard(model)
    edited["dashboard"]["panels"][0]["title"] = "changed by hand in the UI"
    assert plan_dashboard(edited, model, folder_uid="citysense") is Action.UPDATE
    elsewhere = _as_grafana_returns_dashboard(model, folder_uid="general")
    assert plan_dashboard(elsewhere, model, folder_uid="citysense") is Action.UPDATE


def test_pushed_data_sources_match_the_provisioned_ones():
    import yaml

    from tests.dashboards.test_structure import PROVISIONING

    provisioned = {
        ds["uid"]: ds
        for ds in yaml.safe_load((PROVISIONING / "datasources" / "citysense.yaml").read_text())["datasources"]
    }
    for payload in datasource_payloads(SETTINGS):
        file = provisioned[payload["uid"]]
        assert (file["name"], file["type"], file["access"]) == (payload["name"], payload["type"], payload["access"])
        assert set(file["jsonData"]) == set(payload["jsonData"])
        assert set(file.get("secureJsonData", {})) == set(payload.get("secureJsonData", {}))

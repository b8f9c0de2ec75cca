"""The generated dashboards: deterministic, committed as built, and internally consistent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dashboards.interpolate import variable_names
from dashboards.render import build_all, dumps
from launcher.cli import app
from tests.dashboards.support import panel_queries, variable_queries

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
COMMITTED = ROOT / "deploy" / "grafana" / "dashboards"
MODELS = build_all()


def test_building_twice_gives_the_same_bytes():
    again = build_all()
    assert [dumps(m) for m in again.values()] == [dumps(m) for m in MODELS.values()]


def test_the_cli_writes_one_file_per_dashboard_identical_on_every_run(tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path / "a")])
    second = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path / "b")])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(f"{uid}.json" for uid in MODELS)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_committed_provisioning_json_is_what_the_code_builds():
    committed = {p.stem: p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.json")}
    assert committed == {uid: dumps(model) for uid, model in MODELS.items()}, (
        "deploy/grafana/dashboards is stale: run `citysense dashboards build --out deploy/grafana/dashboards`"
    )


def test_uids_and_panel_ids_are_unique():
    uids = [model["uid"] for model in MODELS.values()]
    assert len(set(uids)) == len(uids) == 7
    assert all(len(uid) <= 40 for uid in uids)  # Grafana's limit
    for model in MODELS.values():
        ids = [panel["id"] for panel in model["panels"]]
        assert len(set(ids)) == len(ids), model["uid"]
        titles = [panel["title"] for panel in model["panels"]]
        assert len(set(titles)) == len(titles), model["uid"]


def test_panels_fit_the_grid_without_overlapping():
    for model in MODELS.values():
        taken: set[tuple[int, int]] = set()
        for panel in model["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (model["uid"], panel["title"])
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & taken, (model["uid"], panel["title"])
            taken |= cells


def _provisioned_datasources():
    files = list((PROVISIONING / "datasources").glob("*.yaml"))
    assert files
    return {ds["uid"]: ds for f in files for ds in yaml.safe_load(f.read_text())["datasources"]}


def test_every_data_source_a_dashboard_uses_is_provisioned_with_its_type():
    provisioned = _provisioned_datasources()
    used = []
    for model in MODELS.values():
        for panel in model["panels"]:
            used.append(panel["datasource"])
            used.extend(target["datasource"] for target in panel.get("targets", []))
        used.extend(v["datasource"] for v in model.get("templating", {}).get("list", []) if "datasource" in v)
        used.extend(a["datasource"] for a in model.get("annotations", {}).get("list", []))
    assert used
    for ref in used:
        assert ref["uid"] in provisioned, ref
        assert provisioned[ref["uid"]]["type"] == ref["type"], ref
    assert provisioned["citysense-influxdb"]["jsonData"]["version"] == "InfluxQL"


def test_provisioned_secrets_come_from_the_environment():
    for ds in _provisioned_datasources().values():
        for value in ds.get("secureJsonData", {}).values():
            assert "$CITYSENSE_GRAFANA_" in value, ds["uid"]
        assert str(ds["url"]).startswith("$"), ds["uid"]


def test_the_dashboard_provider_loads_the_committed_folder():
    (provider_file,) = (PROVISIONING / "dashboards").glob("*.yaml")
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/citysense"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/var/lib/grafana/dashboards/citysense"] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


def test_every_variable_a_query_uses_is_defined_before_it_is_used():
    for uid, model in MODELS.items():
        defined: list[str] = []
        for query in variable_queries(model):
            assert variable_names(query.text) <= set(defined), (uid, query.where)
            defined.append(query.ref_id)
        for query in panel_queries({uid: model}):
            assert variable_names(query.text) <= set(defined), query.id


def test_ticket_numbers_link_to_the_console():
    model = MODELS["citysense-tickets"]
    assert any(v["name"] == "console" and v["type"] == "textbox" for v in model["templating"]["list"])
    (table,) = [p for p in model["panels"] if p.get("title") == "Open tickets by age"]
    (override,) = [o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "ticket"]
    (links,) = [prop["value"] for prop in override["properties"] if prop["id"] == "links"]
    assert links[0]["url"] == "${console}/console/tickets/${__value.raw}"


def test_every_time_series_dashboard_marks_tickets():
    for uid in ("citysense-overview", "citysense-air", "citysense-water", "citysense-noise-traffic"):
        (annotation,) = MODELS[uid]["annotations"]["list"]
        assert annotation["datasource"]["uid"] == "citysense-postgres"
        assert "FROM tickets" in annotation["target"]["rawSql"]


@pytest.mark.parametrize(
    ("quantity", "value", "category"),
    [("pm25", 15.0, "good"), ("pm25", 40.0, "moderate"), ("pm25", 100.0, "unhealthy"), ("pm10", 200.0, "unhealthy"),
     ("pm25", 200.0, "very_unhealthy"), ("pm10", 430.0, "hazardous")],
)  # fmt: skip
def test_air_bands_are_the_status_pages_ispu_categories(quantity, value, category):
    from api.categories import assess
    from citysense.settings import CommonSettings
    from dashboards.scales import ispu_bands

    colours = {"good": "#2e9e44", "moderate": "#1f5fbf", "unhealthy": "#f2c200", "very_unhealthy": "#d7191c",
               "hazardous": "#000000"}  # fmt: skip
    assessment = assess(quantity, value, CommonSettings(air_index="ispu"))
    assert assessment is not None
    assert assessment.category == category
    colour = next(c for start, c in reversed(ispu_bands(quantity, "ispu")) if start is None or value >= start)
    assert colour == colours[category]


def test_json_is_plain_data():
    for model in MODELS.values():
        assert json.loads(dumps(model)) == model

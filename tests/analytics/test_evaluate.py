"""`citysense evaluate` on a small scenario: the simulator's truth against analytics' tickets."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from analytics.evaluate import Run, evaluate_run
from launcher.cli import app
from simulators.city import load_city

SCENARIO = """
name: small
incidents:
  - {kind: flood, district: sungai-barat, start_s: 93600, duration_s: 10800, peak: 3.2, rain_mm_h: 70}
faults:
  - {kind: silence, device: %s, start_s: 97200, duration_s: 7200}
"""


def small_run(tmp_path) -> Run:
    devices = load_city(None).select(48)
    silent = next(d.device_id for d in devices if d.kind == "air")
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO % silent)
    return Run(name="small", scenario=str(path), days=1.25, devices=48)


def test_a_flood_and_a_silent_sensor_are_ticketed_and_nothing_else(tmp_path):
    result = evaluate_run(small_run(tmp_path))
    report = result.as_dict()

    flood, silence = report["types"]["flood"], report["types"]["silence"]
    assert (flood["records"], flood["detected"], flood["false_tickets"]) == (1, 1, 0)
    assert (silence["records"], silence["detected"], silence["false_tickets"]) == (1, 1, 0)
    assert flood["f1"] == 1.0
    assert flood["ticketed_before_threshold"] == 1.0  # the forecast ticket came before the flood level
    assert flood["median_lead_time_s"] > 0
    assert report["false_tickets"] == 0, result.false_list
    assert report["devices"] == 48


def test_evaluate_command_prints_one_object_per_type_in_json(tmp_path):
    run = small_run(tmp_path)
    result = CliRunner().invoke(app, ["evaluate", "--scenario", run.scenario, "--days", "1.25", "--devices", "48",
                                      "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {"precision", "recall", "f1"} <= set(document["types"]["flood"])
    assert document["runs"][0]["types"]["silence"]["recall"] == 1.0


def test_evaluate_command_refuses_an_unknown_scenario_clearly():
    result = CliRunner().invoke(app, ["evaluate", "--scenario", "no-such-scenario"])
    assert result.exit_code == 1
    assert "no scenario 'no-such-scenario'" in result.output

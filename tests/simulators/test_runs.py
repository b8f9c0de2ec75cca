"""Whole runs: same seed, same bytes; `--to store` into SQLite; over MQTT through an edge agent per device."""

from __future__ import annotations

import sqlite3
import time

import pytest
from typer.testing import CliRunner

from citysense import wire
from citysense.settings import SimulateSettings
from launcher.cli import app
from simulators.city import default_city
from simulators.run import RunOptions, run_simulation
from simulators.scenario import load_scenario
from simulators.truth import read_truth
from tests.simulators.support import MONDAY
from tests.support.mqtt import listening

runner = CliRunner()


def _simulate_to_store(tmp_path, name: str, seed: int) -> tuple[list[tuple], bytes, str]:
    env = {"CITYSENSE_DATA_DIR": str(tmp_path / name), "CITYSENSE_LOG_LEVEL": "WARNING"}
    truth = tmp_path / name / "truth.jsonl"
    scenario = tmp_path / "busy.yaml"
    scenario.write_text("name: busy\nrandom: {incidents_per_day: 16, faults_per_day: 16}\n")
    args = [
        "simulate",
        "--to",
        "store",
        "--scenario",
        str(scenario),
        "--seed",
        str(seed),
        "--speed",
        "max",
        "--until",
        "3h",
        "--devices",
        "150",
        "--start",
        "2026-01-05T00:00:00+07:00",
        "--truth",
        str(truth),
        "--no-register",
    ]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / name / "timeseries.db") as db:
        rows = db.execute("SELECT device_id, quantity, time_ms, value FROM readings ORDER BY 1, 2, 3").fetchall()
    return rows, truth.read_bytes(), result.output


def test_same_seed_same_data_and_truth_byte_for_byte_and_another_seed_differs(tmp_path):
    rows_a, truth_a, output = _simulate_to_store(tmp_path, "a", seed=7)
    rows_b, truth_b, _ = _simulate_to_store(tmp_path, "b", seed=7)
    rows_c, truth_c, _ = _simulate_to_store(tmp_path, "c", seed=8)
    assert f"sent {len(rows_a)} readings" in output
    assert "to store" in output
    assert "written to" in output
    assert len(rows_a) > 10_000
    assert rows_a == rows_b
    assert truth_a == truth_b
    assert rows_c != rows_a
    assert truth_c != truth_a
    records = read_truth(tmp_path / "a" / "truth.jsonl")
    assert records, "the busy scenario injects something in three hours"
    assert all(r["start_ms"] >= round(MONDAY * 1000) and r["seed"] == 7 for r in records)


def test_bad_options_get_a_clear_error_and_no_traceback(tmp_path):
    env = {"CITYSENSE_DATA_DIR": str(tmp_path)}
    cases = [
        (["--until", "soon"], "not a duration"),
        (["--speed", "60"], "needs --until"),
        (["--scenario", "nowhere"], "shipped: demo"),
        (["--to", "kafka"], "'mqtt' or 'store'"),
        (["--start", "yesterday", "--until", "1h"], "ISO 8601"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["simulate", "--no-register", *args], env=env)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output


@pytest.mark.timeout(120)
def test_over_mqtt_every_device_publishes_senml_through_its_own_session_and_says_goodbye(broker):
    devices = 16
    options = RunOptions(
        city=default_city(),
        scenario=load_scenario("demo"),
        devices=devices,
        speed=float("inf"),
        until_s=1800,
        register=False,
    )
    with listening(broker.settings, "cs/v1/+/+") as heard:
        summary = run_simulation(options, SimulateSettings(broker=broker.settings))
        heard.wait_for(
            lambda ms: (
                sum(m.topic.endswith("/readings") for m in ms) >= summary.packs
                and sum(m.topic.endswith("/status") for m in ms) >= 2 * devices
            ),
            timeout_s=60,
        )
    now = time.time()
    readings = 0
    for message in heard.messages:
        device = wire.device_from_topic(message.topic)
        if message.topic.endswith("/readings"):
            parsed = wire.parse_pack(message.payload, device_id=device, now=now)
            assert parsed.ok, parsed.rejections  # valid SenML, not in the future, the device's own name
            readings += len(parsed.readings)
    assert summary.devices == devices
    assert readings == summary.readings > 0
    statuses = [m for m in heard.messages if m.topic.endswith("/status")]
    assert {wire.device_from_topic(m.topic) for m in statuses} == {d.device_id for d in default_city().select(devices)}
    assert sum(b'"offline"' in m.payload for m in statuses) == devices

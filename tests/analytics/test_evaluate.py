"""`citysense evaluate`: strict scoring of analytics' tickets against the simulator's truth."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from typer.testing import CliRunner

from analytics.evaluate import Run, ScoredTicket, evaluate_run, load_runs, score, wilson
from launcher.cli import app
from simulators.city import load_city

HOUR = 3_600_000
T0 = 1_767_000_000_000

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
    return Run(name="small", scenario=str(path), days=1.25, devices=48, start="2026-01-05T00:00:00+07:00")


def record(id_, kind, category, devices, start, end, *, district="d1", expected="device_fault"):
    return {
        "id": id_, "kind": kind, "category": category, "district": district, "devices": devices,
        "start_ms": start, "end_ms": end, "start": "", "end": "", "level": None, "expected_ticket": expected,
    }  # fmt: skip


def ticket(id_, code, devices, opened, resolved=None, *, detector="", district="d1"):
    return ScoredTicket(id_, code, district, tuple(devices), opened, resolved, detector)


def scored(truth, tickets, end_ms=T0 + 48 * HOUR):
    kinds = {"a1": "air", "a2": "air", "w1": "water", "t1": "traffic"}
    return score(truth, tickets, device_kinds=kinds, device_days=10.0, end_ms=end_ms)


def test_a_fault_is_found_only_by_its_own_detector_family_and_only_in_time():
    truth = [
        record("s", "stuck", "fault", ["a1"], T0, T0 + 10 * HOUR),
        record("d", "drift", "fault", ["a2"], T0, T0 + 30 * HOUR),
    ]
    tickets = [
        ticket(1, "device_fault", ["a1"], T0 + 5 * HOUR, detector="neighbour_drift"),  # stuck "found" by drift: no
        ticket(2, "device_fault", ["a2"], T0 + 2 * HOUR, detector="neighbour_drift"),
    ]
    types, false, missed = scored(truth, tickets)
    assert (types["stuck"].found, types["drift"].found) == (0, 1)
    assert [t.id for t in false] == [1]
    assert (types["drift"].false, types["drift"].wrong_family) == (1, 1)  # counted against the drift detector
    assert [m["id"] for m in missed] == ["s"]
    # The right family, but 4 h after a stuck fault began: too late to count (3 h allowed).
    types, _, _ = scored(truth[:1], [ticket(3, "device_fault", ["a1"], T0 + 4 * HOUR, detector="stuck")])
    assert types["stuck"].found == 0


def test_repeat_tickets_are_duplicates_flapping_and_stale_and_an_anomaly_ticket_on_a_faulty_device_is_a_duplicate():
    truth = [
        record("f", "flood", "incident", ["w1"], T0, T0 + 3 * HOUR, expected="flood"),
        record("s", "stuck", "fault", ["a1"], T0, T0 + 10 * HOUR),
    ]
    tickets = [
        ticket(1, "flood", ["w1"], T0 - HOUR // 2, T0 + HOUR),  # a forecast before the true crossing
        ticket(2, "flood", ["w1"], T0 + 2 * HOUR, None),  # reopened after the first resolved, never resolved
        ticket(3, "device_fault", ["a1"], T0 + HOUR, T0 + 11 * HOUR, detector="stuck"),
        ticket(4, "anomaly", ["a1"], T0 + 2 * HOUR, T0 + 3 * HOUR),
    ]
    types, false, _ = scored(truth, tickets)
    flood, stuck = types["flood"], types["stuck"]
    assert (flood.found, flood.tickets, flood.duplicates, flood.flapping, flood.stale) == (1, 2, 1, 1, 1)
    assert flood.precision == 0.5
    assert (flood.crossed, flood.before_crossing) == (1, 1)
    assert flood.delays_s == [-1800.0]
    assert (stuck.found, stuck.tickets, stuck.duplicates, stuck.stale) == (1, 2, 1, 0)
    assert false == []


def test_a_ticket_for_nothing_is_false_and_counted_against_its_type_per_device_day():
    tickets = [
        ticket(1, "air_quality", ["a1"], T0),
        ticket(2, "anomaly", ["t1"], T0),
        ticket(3, "device_fault", ["w1"], T0, detector="dry_weather_shift"),
    ]
    types, false, _ = scored([], tickets)
    assert len(false) == 3
    assert (types["pollution"].false, types["traffic_collapse"].false, types["drift"].false) == (1, 1, 1)
    row = types["pollution"].as_dict("pollution")
    assert row["false_per_100_device_days"] == 10.0
    assert row["precision"] == 0.0
    assert row["recall"] is None


def test_wilson_interval_is_the_score_interval():
    assert wilson(0, 0) is None
    low, high = wilson(57, 60)
    assert low == pytest.approx(0.8628, abs=1e-3)
    assert high == pytest.approx(0.9829, abs=1e-3)
    assert wilson(60, 60)[1] == 1.0


def test_the_evaluation_sets_have_several_seeds_seasons_and_cities_and_share_none():
    standard, confirm, holdout = load_runs("standard"), load_runs("confirm"), load_runs("holdout")
    for runs in (standard, confirm, holdout):
        assert len({r.seed for r in runs}) >= 4
        months = {int(r.start[5:7]) for r in runs}
        assert months & {11, 12, 1, 2, 3}
        assert months & {6, 7, 8, 9}
        assert len({r.city for r in runs}) >= 2
    assert not {r.seed for r in standard} & {r.seed for r in holdout}
    assert not {r.start[:10] for r in standard} & {r.start[:10] for r in holdout}
    assert not {r.city for r in standard} & {r.city for r in holdout}
    # The confirmation set is a second development set: new seeds and dates, the standard set's cities.
    for other in (standard, holdout):
        assert not {r.seed for r in confirm} & {r.seed for r in other}
        assert not {r.start[:10] for r in confirm} & {r.start[:10] for r in other}
    assert not {r.city for r in confirm} & {r.city for r in holdout}


def test_a_flood_and_a_silent_sensor_are_ticketed_and_the_flood_before_the_true_crossing(tmp_path):
    report = evaluate_run(small_run(tmp_path))
    types = {row["type"]: row for row in report.as_dict()["types"]}
    flood, silence = types["flood"], types["silence"]
    assert (flood["truth"], flood["found"]) == (1, 1)
    assert (silence["truth"], silence["found"], silence["false"]) == (1, 1, 0)
    assert flood["before_true_crossing"] == 1.0  # the forecast ticket came before the true level crossed
    assert report.devices == 48


def test_evaluate_command_prints_the_contracts_json(tmp_path):
    run = small_run(tmp_path)
    result = CliRunner().invoke(app, ["evaluate", "--scenario", run.scenario, "--days", "1.25", "--devices", "48",
                                      "--history-days", "0.25", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    keys = {"type", "truth", "found", "tickets", "false", "duplicates", "stale", "precision", "recall", "f1"}
    assert all(keys <= set(row) for row in document["types"])
    flood = next(row for row in document["types"] if row["type"] == "flood")
    assert flood["truth"] >= 1
    assert document["runs"][0]["scenario"] == "small"
    assert document["runs"][0]["history_days"] == 0.25
    assert document["runs"][0]["days"] == 1.25


def test_evaluate_command_refuses_an_unknown_scenario_clearly():
    result = CliRunner().invoke(app, ["evaluate", "--scenario", "no-such-scenario"])
    assert result.exit_code == 1
    assert "no scenario 'no-such-scenario'" in result.output


def test_a_run_with_history_learns_from_it_and_scores_only_the_run(tmp_path):
    """Half a day of ordinary city comes first (analytics warms up on it, reporting nothing), the
    scenario's events move past it, and only the run itself is scored."""
    run = small_run(tmp_path).model_copy(update={"history_days": 0.5})
    report = evaluate_run(run)
    row = report.as_dict()
    types = {r["type"]: r for r in row["types"]}
    assert (types["flood"]["truth"], types["flood"]["found"]) == (1, 1)
    assert (types["silence"]["truth"], types["silence"]["found"], types["silence"]["false"]) == (1, 1, 0)
    assert row["history_days"] == 0.5
    assert row["days"] == 1.25
    assert row["device_days"] == 48 * 1.25
    start = datetime.fromisoformat(run.start)  # nothing before it is a ticket or a truth record
    assert all(datetime.fromisoformat(t["opened"]) >= start for t in report.false_list)
    assert all(datetime.fromisoformat(m["start"]) >= start for m in report.missed)

"""A node's battery level on its status: the kernel's power supplies, the owner's own file, and on to
the registry and the fleet_health series through ingest (real Mosquitto and SQLite)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from citysense import wire
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.db.models import Device
from citysense.settings import IngestSettings
from citysense.timeseries import open_store
from edge.agent import Agent
from edge.health import BatteryGauge
from ingest.service import IngestService
from tests.edge.test_agent import node_toml
from tests.support.mqtt import listening, wait_until


def supply(root: Path, name: str, **attributes: str) -> Path:
    """One folder of /sys/class/power_supply: `type`, `capacity`, `scope`, `present`... as files."""
    folder = root / name
    folder.mkdir(parents=True)
    for attribute, value in attributes.items():
        (folder / attribute).write_text(f"{value}\n")
    return folder


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "power_supply"
    root.mkdir()
    return root


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_ups_hat_in_sysfs_is_reported_and_mains_and_peripheral_batteries_are_not(sysfs, caplog):
    supply(sysfs, "AC", type="Mains", online="1")
    supply(sysfs, "hid-mouse-battery", type="Battery", scope="Device", capacity="5")  # a wireless mouse's
    supply(sysfs, "rpi-ups", type="Battery", status="Discharging", capacity="87")
    assert BatteryGauge(power_supply=sysfs).read() == 87.0
    assert not warnings(caplog)


def test_a_mains_only_node_reports_no_battery_and_logs_nothing(sysfs, tmp_path, caplog):
    supply(sysfs, "AC", type="Mains", online="1")
    supply(sysfs, "usb", type="USB", online="1")
    assert BatteryGauge(power_supply=sysfs).read() is None
    assert BatteryGauge(power_supply=tmp_path / "no-such-class").read() is None  # a kernel without the class
    assert not warnings(caplog)


def test_of_several_batteries_the_first_by_name_with_a_level_is_reported(sysfs, caplog):
    supply(sysfs, "BAT1", type="Battery", capacity="50")
    supply(sysfs, "BAT0", type="Battery", capacity="30")
    assert BatteryGauge(power_supply=sysfs).read() == 30.0
    # BAT0 taken out (the driver keeps the folder) or unreadable: the next one in name order.
    (sysfs / "BAT0" / "present").write_text("0\n")
    assert BatteryGauge(power_supply=sysfs).read() == 50.0
    (sysfs / "BAT0" / "present").write_text("1\n")
    (sysfs / "BAT0" / "capacity").unlink()
    assert BatteryGauge(power_supply=sysfs).read() == 50.0
    assert not warnings(caplog)


def test_the_owners_file_overrides_sysfs_and_follows_what_the_hat_script_writes(sysfs, tmp_path):
    supply(sysfs, "BAT0", type="Battery", capacity="87")
    level = tmp_path / "ups-level"
    level.write_text("42.5\n")
    gauge = BatteryGauge(file=level, power_supply=sysfs)
    assert gauge.read() == 42.5
    level.write_text("41")
    assert gauge.read() == 41.0


@pytest.mark.parametrize("content", ["full", "", "150", "-3", "nan", "87 %", "\x00\xff"])
def test_a_bad_level_file_is_logged_once_and_reported_as_no_battery(sysfs, tmp_path, caplog, content):
    supply(sysfs, "BAT0", type="Battery", capacity="87")  # not used instead: the owner chose the file
    level = tmp_path / "ups-level"
    level.write_text(content)
    gauge = BatteryGauge(file=level, power_supply=sysfs)
    assert [gauge.read() for _ in range(3)] == [None, None, None]
    (logged,) = warnings(caplog)  # once, not at every status
    assert str(level) in logged
    assert "not a percentage from 0 to 100" in logged
    level.write_text("64")
    assert gauge.read() == 64.0


def test_a_missing_level_file_and_a_broken_sysfs_capacity_are_logged_once_as_no_battery(sysfs, tmp_path, caplog):
    missing = BatteryGauge(file=tmp_path / "not-written-yet")
    assert [missing.read(), missing.read()] == [None, None]
    supply(sysfs, "BAT0", type="Battery", capacity="255")  # a fuel gauge's nonsense
    broken = BatteryGauge(power_supply=sysfs)
    assert [broken.read(), broken.read()] == [None, None]
    first, second = warnings(caplog)
    assert "not-written-yet" in first
    assert "cannot read it" in first
    assert "BAT0 " in second
    assert "'255' is not a percentage" in second


def test_only_a_node_reads_the_kernels_batteries_not_a_simulated_device(sysfs, config_factory, monkeypatch):
    # On a laptop running the demo, 96 simulated devices must not all show the laptop's battery.
    supply(sysfs, "BAT0", type="Battery", capacity="73")
    monkeypatch.setattr("edge.agent.POWER_SUPPLY", sysfs)
    node, simulated = (
        Agent(config_factory("mqtt://127.0.0.1:9")),
        Agent(config_factory("mqtt://127.0.0.1:9", sensors=[])),
    )
    try:
        assert node.health()["battery_pct"] == 73.0
        assert simulated.health()["battery_pct"] is None
    finally:
        node.stop()
        simulated.stop()


def _device(sessions, device_id: str) -> Device:
    with sessions() as session:
        return session.scalars(select(Device).where(Device.id == device_id)).one()


def test_the_level_reaches_the_registry_and_the_fleet_health_series_through_ingest(
    broker, sysfs, tmp_path, config_factory
):
    settings = IngestSettings(
        data_dir=tmp_path, broker=broker.settings, client_id="ingest-bat", metrics_port=0, status_health_every_s=0
    )
    sessions = connect(settings.tickets_url)
    register_devices(sessions, [DeviceInfo("river-01", "sungai-barat", "river")])
    capacity = supply(sysfs, "rpi-ups", type="Battery", capacity="87") / "capacity"
    service = IngestService(settings)
    service.start()
    start_ms = int(time.time() * 1000) - 60_000
    agent = Agent(config_factory(broker.url, health_interval_s=3600), battery=BatteryGauge(power_supply=sysfs))
    try:
        with listening(broker.settings, wire.status_topic("river-01")) as seen:
            agent.start()
            seen.wait_for(lambda ms: any(orjson.loads(m.payload).get("battery_pct") == 87.0 for m in ms))
        wait_until(lambda: _device(sessions, "river-01").battery_pct == 87.0, what="the level in the registry")
        capacity.write_text("41\n")  # the pack runs down; the next status says so
        agent.link.request_status()
        wait_until(lambda: _device(sessions, "river-01").battery_pct == 41.0, what="the new level in the registry")
    finally:
        agent.stop()
        service.stop()
    store = open_store(settings.timeseries_url)
    try:
        points = store.read_health(scope="device", metric="battery_pct", start_ms=start_ms, end_ms=start_ms + 3_600_000)
    finally:
        store.close()
    assert {p.source for p in points} == {"river-01"}
    values = [p.value for p in points]  # in time order: full first, then the drop
    assert values[0] == 87.0
    assert values[-1] == 41.0


def test_the_command_takes_the_level_file_from_the_config_or_the_environment(broker, tmp_path):
    in_config, in_env = tmp_path / "hat-a", tmp_path / "hat-b"
    in_config.write_text("30")
    in_env.write_text("75")
    config = Path(node_toml(tmp_path, broker.url))
    config.write_text(f'battery_file = "{in_config}"\n' + config.read_text())

    def published_level(env: dict[str, str]) -> float | None:
        with listening(broker.settings, wire.status_topic("river-01")) as seen:
            agent = subprocess.Popen(
                [sys.executable, "-m", "launcher.cli", "edge", "run", "--config", str(config)],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                seen.wait_for(lambda ms: any(orjson.loads(m.payload)["state"] == "online" for m in ms), timeout_s=20)
            finally:
                agent.terminate()
                agent.wait()
            online = [orjson.loads(m.payload) for m in seen.messages]
            return next(s for s in online if s["state"] == "online").get("battery_pct")

    assert published_level({}) == 30.0
    assert published_level({"CITYSENSE_EDGE_BATTERY_FILE": str(in_env)}) == 75.0

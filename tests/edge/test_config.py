"""Agent configuration: a node's TOML file and remote changes, validated before use."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from edge.backoff import Backoff
from edge.config import ConfigError, apply_remote, load_config, parse_remote_config

NODE = """
device_id = "air-07"
[broker]
url = "mqtts://broker.example:8883"
password = "s3cret"
ca_file = "/etc/citysense/ca.crt"
[queue]
path = "{queue}"
[[sensors]]
name = "air"
driver = "sds011"
port = "/dev/ttyUSB0"
[[sensors]]
name = "rain"
driver = "rain_gauge"
pin = 6
"""


def test_a_node_file_loads_with_defaults_that_suit_the_sensor(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text(NODE.format(queue=tmp_path / "q.db"))
    config = load_config(path)
    assert config.username == "air-07"  # a device logs in as itself
    assert config.broker.tls
    air, rain = config.sensors
    assert (air.aggregate, air.samples) == ("median", 10)
    assert rain.aggregate == "sum"  # rain adds up; its median would be wrong


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("sds011", "laser"), "sensors.0"),
        (("pin = 6", "pin = 6\ninterval_s = 0"), "interval_s"),
        (('device_id = "air-07"', 'device_id = "air/07"'), "device_id"),
        (('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nbaud = 9600'), "baud"),
    ],
)
def test_mistakes_in_the_file_are_refused_naming_the_field(tmp_path, edit, message):
    path = tmp_path / "node.toml"
    path.write_text(NODE.format(queue=tmp_path / "q.db").replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_edge_run_with_a_bad_file_exits_1_with_the_reason(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text("device_id = ")
    result = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "edge", "run", "--config", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_remote_config_changes_sampling_and_refuses_unknown_sensors(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text(NODE.format(queue=tmp_path / "q.db"))
    config = load_config(path)
    remote = parse_remote_config(b'{"version": 4, "sensors": {"air": {"interval_s": 2.5}}, "drain_per_s": 5}', config)
    applied = apply_remote(config, remote)
    assert applied.sensors[0].interval_s == 2.5
    assert applied.queue.drain_per_s == 5
    assert config.sensors[0].interval_s == 1.0  # the running config is a new object; the old one is untouched
    with pytest.raises(ConfigError, match="unknown sensors: lamp"):
        parse_remote_config(b'{"version": 5, "sensors": {"lamp": {}}}', config)
    with pytest.raises(ConfigError, match="interval_s"):
        parse_remote_config(b'{"version": 5, "sensors": {"air": {"interval_s": -1}}}', config)
    with pytest.raises(ConfigError):
        parse_remote_config(b"\xff not json", config)


def test_backoff_doubles_up_to_its_cap_with_jitter_and_resets():
    backoff = Backoff(initial_s=1, max_s=8, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, step in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == 6  # jittered: no two nodes (or attempts) in lock-step
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_a_node_file_without_sensors_is_refused(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text(NODE.format(queue=tmp_path / "q.db").split("[[sensors]]")[0])
    with pytest.raises(ConfigError, match="at least one"):
        load_config(path)

"""`citysense devices add | list | revoke` against a real SQLite registry and real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from citysense.provisioning import verify_password
from edge.config import load_config


@pytest.fixture
def run(tmp_path, monkeypatch):
    env = {
        "PATH": "/usr/bin:/bin",
        "CITYSENSE_DATA_DIR": str(tmp_path),
        "CITYSENSE_BROKER__URL": "mqtts://broker.city.example:8883",
    }

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "launcher.cli", "devices", *args], capture_output=True, text=True, env=env
        )

    return invoke


def test_add_registers_writes_login_and_acl_and_prints_a_config_the_agent_accepts(run, tmp_path):
    result = run("add", "sb-river-01", "--district", "Sungai Barat", "--kind", "water")
    assert result.returncode == 0, result.stderr
    config_path = tmp_path / "node.toml"
    config_path.write_text(result.stdout)
    config = load_config(config_path)
    assert (config.device_id, config.broker.url) == ("sb-river-01", "mqtts://broker.city.example:8883")
    assert config.sensors[0].driver == "ultrasonic"
    password_line = (tmp_path / "mosquitto" / "passwd").read_text()
    assert password_line.startswith("sb-river-01:$7$101$")
    assert verify_password(config.broker.password or "", password_line.strip().split(":", 1)[1])
    acl = (tmp_path / "mosquitto" / "acl").read_text()
    assert "pattern write cs/v1/%u/readings" in acl

    listed = run("list", "--json")
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {
            "id": "sb-river-01",
            "district": "Sungai Barat",
            "kind": "water",
            "state": "active",
            "created_at": json.loads(listed.stdout.splitlines()[0])["created_at"],
        }
    ]

    assert run("revoke", "sb-river-01").returncode == 0
    assert "sb-river-01" not in (tmp_path / "mosquitto" / "passwd").read_text()
    assert json.loads(run("list", "--json").stdout)["state"] == "revoked"


def test_bad_requests_fail_with_a_message_and_change_nothing(run, tmp_path):
    bad = run("add", "cs/v1/#", "--district", "X", "--kind", "air")
    assert bad.returncode == 1
    assert "invalid device id" in bad.stderr
    unknown = run("revoke", "ghost-01")
    assert unknown.returncode == 1
    assert "no device 'ghost-01'" in unknown.stderr
    assert not (tmp_path / "mosquitto" / "passwd").exists()


def test_the_printed_config_lands_in_a_0600_file_whatever_the_umask(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CITYSENSE_DATA_DIR": str(tmp_path)}
    redirected = tmp_path / "redirected.toml"
    # The shell creates the file before citysense runs, with umask 022: 0644.
    script = f"umask 022; {sys.executable} -m launcher.cli devices add air-01 --district X --kind air > {redirected}"
    assert subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True).returncode == 0
    out = tmp_path / "out.toml"
    args = ["devices", "add", "air-02", "--district", "X", "--kind", "air", "--out", str(out)]
    script = f"umask 000; {sys.executable} -m launcher.cli {' '.join(args)}"
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "password" not in result.stdout
    for path, device in ((redirected, "air-01"), (out, "air-02")):
        assert path.stat().st_mode & 0o777 == 0o600
        assert load_config(path).device_id == device

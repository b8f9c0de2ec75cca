"""`citysense demo` as a resident and an operator meet it: a real process, real ports, Ctrl-C, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from citysense import wire
from citysense.settings import BrokerSettings
from tests.support.mqtt import listening, publish
from tests.support.servers import free_port, wait_for_port

pytestmark = pytest.mark.slow


def start_demo(data_dir: Path, port: int, mqtt_port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "launcher.cli", "demo",
        "--data-dir", str(data_dir), "--port", str(port), "--mqtt-port", str(mqtt_port), "--interval", "2",
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    wait_for_port(port, timeout_s=60)
    return process


def stop_demo(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def poll(client: httpx.Client, path: str, ok, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    body = None
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if ok(body):
            return body
        time.sleep(1)
    raise AssertionError(f"{path} never satisfied the check; last answer: {body}")


def test_demo_shows_every_district_tickets_dead_letters_and_survives_a_restart(tmp_path):
    port, mqtt_port = free_port(), free_port()
    data_dir, log = tmp_path / "var", tmp_path / "demo.log"
    broker = BrokerSettings(url=f"mqtt://127.0.0.1:{mqtt_port}")
    started = time.monotonic()
    demo = start_demo(data_dir, port, mqtt_port, log)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        tickets = poll(client, "/public/v1/tickets", lambda b: b["count"] >= 2, timeout_s=90)
        assert time.monotonic() - started < 90
        assert {t["service_code"] for t in tickets["data"]} == {"flood", "air_quality"}

        status = client.get("/public/v1/status").json()
        assert len(status["districts"]) >= 5
        assert all(d["quantities"] for d in status["districts"])

        with listening(broker, wire.DEADLETTER_TOPIC) as dead:
            publish(broker, wire.readings_topic("kota-lama-air-01"), [b"{not senml"])
            dead.wait_for(lambda m: len(m) == 1)
        letter = wire.parse_deadletter(dead.messages[0].payload)
        assert letter["reason"] == "not_json"
        assert letter["payload"] == "{not senml"

        page = client.get("/")
        assert page.status_code == 200
        assert "sungai barat" in page.text.lower()
        assert client.get("/healthz").json()["status"] == "ok"
        before = client.get("/public/v1/tickets").json()["count"]
    finally:
        code = stop_demo(demo)
    assert code == 0, log.read_text()[-3000:]
    assert "demo stopped" in log.read_text()

    demo = start_demo(data_dir, port, mqtt_port, log)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        # Right after the restart, before any new incident could start, the old tickets are still there.
        assert client.get("/public/v1/tickets").json()["count"] >= before
        assert len(client.get("/public/v1/status").json()["districts"]) >= 5
    finally:
        assert stop_demo(demo) == 0

"""`CITYSENSE_LOG_FORMAT=json`: a real service process writes one JSON object per line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import orjson

from citysense import wire
from tests.support.mqtt import listening, publish


def service_env(broker_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CITYSENSE_BROKER__URL": broker_url,
        "CITYSENSE_DATA_DIR": str(tmp_path),
        "CITYSENSE_METRICS_PORT": "0",
        "CITYSENSE_LOG_FORMAT": "json",
        "CITYSENSE_CLIENT_ID": "ingest-logs-test",
        **extra,
    }


def test_ingest_logs_one_json_object_per_line_with_service_and_device(broker, tmp_path):
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "ingest"],
            env=service_env(broker.url, tmp_path),
            stdout=out,
            stderr=out,
        )
    try:
        with listening(broker.settings, wire.DEADLETTER_TOPIC) as dead:
            # Ingest may not have subscribed yet: send until a dead letter comes back.
            for _ in range(60):
                publish(broker.settings, wire.readings_topic("river-gauge-7"), [b"not senml"])
                with contextlib.suppress(AssertionError):
                    dead.wait_for(lambda messages: len(messages) >= 1, timeout_s=0.5)
                    break
            assert dead.messages, "ingest never dead-lettered the bad pack"
    finally:
        process.terminate()
        process.wait(timeout=20)

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [orjson.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) and r["service"] == "ingest" for r in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])
    rejected = [r for r in records if "dead-lettered" in r["message"]]
    assert rejected, lines
    assert rejected[0]["device_id"] == "river-gauge-7"
    assert rejected[0]["level"] == "WARNING"


def test_an_unknown_log_format_is_refused_with_a_clear_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "ingest"],
        env=service_env("mqtt://127.0.0.1:1", tmp_path, CITYSENSE_LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "log_format" in done.stderr
    assert "json" in done.stderr

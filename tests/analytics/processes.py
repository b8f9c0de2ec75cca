"""Real `citysense analytics` processes for the durability and scale-out tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from citysense import wire
from citysense.timeseries import open_store
from citysense.wire import Reading
from testbed.mqtt import publish
from testbed.servers import free_port


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Analytics:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def readyz(self) -> tuple[int, dict]:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
        except httpx.HTTPError:
            return 0, {}
        return response.status_code, response.json()

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.strip()}

    def wait_ready(self, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            status, body = self.readyz()
            if status == 200:
                return body
            time.sleep(0.2)
        raise AssertionError(f"analytics not ready within {timeout_s}s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_analytics(
    *, broker_url: str, tickets_url: str, store_url: str, data_dir: Path, client_id: str, **settings: str
) -> Analytics:
    port = free_port()
    log = data_dir / f"{client_id}.log"
    env = {
        **os.environ,
        "CITYSENSE_BROKER__URL": broker_url,
        "CITYSENSE_TICKETS_URL": tickets_url,
        "CITYSENSE_TIMESERIES_URL": store_url,
        "CITYSENSE_DATA_DIR": str(data_dir),
        "CITYSENSE_CLIENT_ID": client_id,
        "CITYSENSE_METRICS_PORT": str(port),
        "CITYSENSE_LOG_FORMAT": "json",
        "CITYSENSE_WARMUP_S": "86400",
        "CITYSENSE_POSITION_COMMIT_S": "0.5",
        "CITYSENSE_LEASE_CHECK_S": "1",
        "CITYSENSE_TAKEOVER_SETTLE_S": "1",
        **{f"CITYSENSE_{k.upper()}": v for k, v in settings.items()},
    }
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "launcher.cli", "analytics"], env=env, stdout=out, stderr=out)
    return Analytics(process, port, log)


def deliver(broker, store_url: str, readings: list[Reading]) -> None:
    """What ingest and a device do together: the reading is stored, then it reaches analytics."""
    store = open_store(store_url)
    try:
        store.write(readings)
    finally:
        store.close()
    for reading in readings:
        publish(broker, wire.readings_topic(reading.device_id), [wire.build_pack(reading.device_id, [reading])])


def position_of(tickets_url: str, device_id: str) -> int | None:
    with psycopg.connect(libpq(tickets_url)) as conn:
        row = conn.execute("SELECT time_ms FROM analytics_positions WHERE device_id = %s", (device_id,)).fetchone()
    return None if row is None else int(row[0])


def open_tickets(tickets_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq(tickets_url)) as conn:
        rows = conn.execute("SELECT dedupe_key, district FROM tickets ORDER BY id").fetchall()
    return [(str(k), str(d)) for k, d in rows]

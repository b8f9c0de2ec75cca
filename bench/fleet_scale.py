"""The broker at city scale: N simulated devices, each with its own MQTT session, from one process.

One `simulators.swarm.Swarm` (one thread, one socket per device, QoS 1, persistent sessions)
connects N devices to a real Mosquitto; each reports once a minute; `citysense ingest` (a process
of its own, SQLite store) stores the stream. Reported: sessions connected (the broker's own
`$SYS/broker/clients/connected` and the swarm's count), the broker's resident memory, readings/s
published and stored, every reading stored once (the store's count against the distinct readings
published), publish-to-PUBACK p99 (the broker took the report) and ingest's own lag gauge (arrival
to store acknowledgement of its last batch), and the simulator's threads and open files.

    python -m bench.fleet_scale --devices 10000 --minutes 3
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from citysense.timeseries import open_store
from citysense.wire import Reading
from simulators.swarm import Swarm
from testbed.mqtt import listening
from testbed.servers import free_port, mosquitto

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
console = Console()
app = typer.Typer(add_completion=False)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ingest_metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(f"citysense_ingest_{name} "):
            return float(line.split()[1])
    return 0.0


@app.command()
def main(
    devices: Annotated[int, typer.Option(help="simulated devices, each with its own MQTT session")] = 10_000,
    minutes: Annotated[int, typer.Option(min=1, help="reports per device (one a minute)")] = 3,
    connects_per_s: Annotated[float, typer.Option(help="how fast the sessions connect")] = 400.0,
) -> None:
    """Mosquitto with N connected devices at one report a minute each."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    ids = [f"fleet-{i:05d}" for i in range(devices)]
    published: set[tuple[str, int]] = set()
    lock = threading.Lock()

    def readings(device_id: str, time_ms: int) -> list[Reading]:
        with lock:
            published.add((device_id, time_ms))
        return [Reading(device_id, "temperature", 28.0 + (time_ms // 60_000) % 5, time_ms)]

    with tempfile.TemporaryDirectory(prefix="citysense-fleet-") as tmp, mosquitto(Path(tmp) / "broker") as broker:
        store_url = f"sqlite:///{Path(tmp) / 'ts.db'}"
        metrics_port = free_port()
        env = {
            **os.environ,
            "CITYSENSE_BROKER__URL": broker.url,
            "CITYSENSE_TIMESERIES_URL": store_url,
            "CITYSENSE_DATA_DIR": tmp,
            "CITYSENSE_METRICS_PORT": str(metrics_port),
            "CITYSENSE_LOG_LEVEL": "WARNING",
        }
        log = (Path(tmp) / "ingest.log").open("ab")
        ingest = subprocess.Popen([sys.executable, "-m", "launcher.cli", "ingest"], env=env, stdout=log, stderr=log)
        row: dict[str, Any] = {"devices": devices, "minutes": minutes}
        try:
            time.sleep(3)  # ingest subscribed
            with listening(broker.settings, "$SYS/broker/clients/connected") as sys_clients:
                swarm = Swarm(
                    broker.settings, ids, readings, interval_s=60.0, rounds=minutes, connects_per_s=connects_per_s
                )
                began = time.monotonic()
                swarm.start()
                deadline = began + devices / connects_per_s + 120
                while swarm.stats.connected < devices and time.monotonic() < deadline:
                    time.sleep(1)
                row["connected_s"] = round(time.monotonic() - began, 1)
                row["sessions_connected"] = swarm.stats.connected
                row["simulator_threads"] = threading.active_count()
                row["simulator_open_files"] = len(os.listdir("/proc/self/fd"))
                lag_max = 0.0
                expected = devices * minutes
                while swarm.stats.packs_acknowledged < expected and time.monotonic() < began + 60 * minutes + 300:
                    lag_max = max(lag_max, ingest_metric(metrics_port, "lag_seconds"))
                    if broker.process is not None:
                        rss = round(rss_mib(broker.process.pid), 1)
                        row["broker_rss_mib"] = max(row.get("broker_rss_mib", 0.0), rss)
                    time.sleep(2)
                published_s = time.monotonic() - began
                store = open_store(store_url)
                try:
                    wait_until = time.monotonic() + 120
                    while store.count() < len(published) and time.monotonic() < wait_until:
                        time.sleep(1)
                    stored = store.count()
                finally:
                    store.close()
                swarm.stop()
                counts = [int(m.payload) for m in sys_clients.messages if m.payload.isdigit()]
                row |= {
                    "broker_clients_connected_max": max(counts) if counts else None,
                    "readings_published": len(published),
                    "readings_stored": stored,
                    "lost": len(published) - stored,
                    "readings_per_s": round(len(published) / published_s, 1),
                    "publish_to_puback_p99_ms": round(swarm.stats.p99_ack_ms() or 0.0, 1),
                    "ingest_lag_max_s": round(lag_max, 3),
                    "disconnects": swarm.stats.disconnects,
                }
        finally:
            ingest.terminate()
            ingest.wait(timeout=30)
            log.close()
    row["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with (RESULTS / "fleet_scale.jsonl").open("a") as out:
        out.write(json.dumps(row) + "\n")
    console.print(row)


if __name__ == "__main__":
    app()

"""Analytics scale-out: CPU seconds per million readings with one and with two processes.

The same stream (air-quality devices, packs of four quantities, QoS 1) is queued at a real
Mosquitto for `citysense analytics` processes (each a process of its own, as deployed) that share
it through partition leases on a real PostgreSQL; the processes are paused (SIGSTOP) while it is
queued and then drain it at full speed. The figure is the processes' CPU time (user + system, from
/proc) from their release to the last reading received, divided by the readings; with per-device
subscriptions each process receives only its own devices, so two processes should cost about
what one does. Results: one JSON row per run in
bench/results/analytics_scaleout.jsonl; the medians go into docs/scaling.md by hand.

    python -m bench.analytics_scaleout --repeat 3
"""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from citysense import wire
from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import BrokerSettings
from citysense.wire import Reading
from testbed.servers import free_port, mosquitto, postgres_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
console = Console()
app = typer.Typer(add_completion=False)

DISTRICTS = ("kota-lama", "riverside", "old-town", "harbour", "hills", "market")
QUANTITIES = {"pm25": (25.0, 4.0), "pm10": (40.0, 6.0), "temperature": (28.0, 1.5), "humidity": (70.0, 5.0)}


def device_ids(n: int) -> list[str]:
    return [f"{DISTRICTS[i % len(DISTRICTS)]}-air-{i:04d}" for i in range(n)]


def make_stream(devices: list[str], rounds: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """One pack per device per round (a minute apart), ordinary values: scoring, few findings."""
    rng = random.Random(seed)
    start = int(time.time() * 1000) - rounds * 60_000
    messages = []
    for r in range(rounds):
        for device in devices:
            at = start + r * 60_000
            readings = [Reading(device, q, round(rng.gauss(mu, sd), 2), at) for q, (mu, sd) in QUANTITIES.items()]
            messages.append((wire.readings_topic(device), wire.build_pack(device, readings)))
    return messages


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(f"citysense_analytics_{name} "):
            return float(line.split()[1])
    return 0.0


def ready_partitions(port: int) -> list[int]:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    except httpx.HTTPError:
        return []
    body = response.json()
    return list(body.get("partitions", [])) if response.status_code == 200 and not body.get("warming") else []


def publish_all(broker: BrokerSettings, messages: list[tuple[str, bytes]]) -> None:
    client = make_client(broker, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connect_and_wait(client, broker)
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(60)
    finally:
        client.disconnect()
        client.loop_stop()


def run_once(processes: int, devices: int, rounds: int, partitions: int, workdir: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    ids = device_ids(devices)
    messages = make_stream(ids, rounds)
    readings = len(messages) * len(QUANTITIES)
    with ExitStack() as stack:
        broker = stack.enter_context(mosquitto(workdir / f"mosquitto-{processes}"))
        tickets_url = stack.enter_context(postgres_database())
        register_devices(connect(tickets_url), [DeviceInfo(d, d.rsplit("-air-", 1)[0], "air") for d in ids])
        ports = [free_port() for _ in range(processes)]
        procs: list[subprocess.Popen[bytes]] = []
        for n, port in enumerate(ports):
            env = {
                **os.environ,
                "CITYSENSE_BROKER__URL": broker.url,
                "CITYSENSE_TICKETS_URL": tickets_url,
                "CITYSENSE_TIMESERIES_URL": f"sqlite:///{workdir / f'ts-{processes}.db'}",
                "CITYSENSE_DATA_DIR": str(workdir),
                "CITYSENSE_CLIENT_ID": f"bench-analytics-{n}",
                "CITYSENSE_METRICS_PORT": str(port),
                "CITYSENSE_PARTITIONS": str(partitions),
                "CITYSENSE_LEASE_CHECK_S": "1",
                "CITYSENSE_TAKEOVER_SETTLE_S": "0",
                "CITYSENSE_WARMUP_S": "0",
                "CITYSENSE_CLOCK_TOLERANCE_S": "86400",
                "CITYSENSE_LOG_LEVEL": "WARNING",
            }
            log = (workdir / f"analytics-{processes}-{n}.log").open("ab")
            stack.callback(log.close)
            procs.append(
                subprocess.Popen([sys.executable, "-m", "launcher.cli", "analytics"], env=env, stdout=log, stderr=log)
            )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                shares = [ready_partitions(port) for port in ports]
                if sorted(p for share in shares for p in share) == list(range(partitions)) and all(shares):
                    break
                time.sleep(0.5)
            else:
                raise RuntimeError(f"analytics processes did not share the partitions: {shares}")
            # Paused while the stream is queued at the broker, then let go: the processes drain it as
            # fast as they can, so the figure is their cost at full load, not at the publisher's pace.
            for p in procs:
                p.send_signal(signal.SIGSTOP)
            try:
                publish_all(broker.settings, messages)
            finally:
                for p in procs:
                    p.send_signal(signal.SIGCONT)
            cpu_before = sum(cpu_seconds(p.pid) for p in procs)
            began = time.monotonic()
            while sum(metric(port, "readings_received") for port in ports) < readings:
                if time.monotonic() - began > 600:
                    raise RuntimeError("analytics did not receive every reading within 10 minutes")
                time.sleep(1.0)  # each poll is work inside every process: keep it rare
            elapsed = time.monotonic() - began
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
            received = [metric(port, "readings_received") for port in ports]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
    return {
        "processes": processes,
        "devices": devices,
        "readings": readings,
        "messages": len(messages),
        "received_per_process": received,
        "cpu_s": round(cpu, 3),
        "cpu_s_per_million": round(cpu / readings * 1e6, 1),
        "readings_per_s": round(readings / elapsed),
    }


@app.command()
def main(
    devices: Annotated[int, typer.Option(help="simulated air-quality devices")] = 300,
    rounds: Annotated[int, typer.Option(help="packs per device (4 readings each)")] = 50,
    partitions: Annotated[int, typer.Option(help="CITYSENSE_PARTITIONS")] = 16,
    repeat: Annotated[int, typer.Option(min=1, help="runs per process count; the median is reported")] = 3,
) -> None:
    """CPU seconds per million readings, one analytics process versus two."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="citysense-bench-") as tmp:
        for attempt in range(repeat):
            for processes in (1, 2):
                row = run_once(processes, devices, rounds, partitions, Path(tmp) / f"{attempt}")
                row |= {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node()}
                rows[processes].append(row)
                with (RESULTS / "analytics_scaleout.jsonl").open("a") as out:
                    out.write(json.dumps(row) + "\n")
                console.print(row)
    one = statistics.median(r["cpu_s_per_million"] for r in rows[1])
    two = statistics.median(r["cpu_s_per_million"] for r in rows[2])
    console.print(
        f"CPU s per million readings: one process {one}, two processes {two} "
        f"({(two / one - 1) * 100:+.1f} %; target within 15 %)"
    )


if __name__ == "__main__":
    app()

"""Sustained ingest rate from MQTT into SQLite and InfluxDB, side by side, with lost and duplicated counts.

For every store and pack size (1, 10, 100 readings per message) the same stream is queued at a
real Mosquitto (QoS 1) for a persistent ingest session, then `citysense ingest` (a process of its
own, as deployed) drains it. The rate is readings stored per second between ingest's first
received message and its last acknowledgement, read from its own /metrics; CPU seconds are the
ingest process's. Beside it, in the same run: the same queue drained by a bare MQTT client that
only acknowledges (the broker alone), and for InfluxDB a plain bulk load of the same readings as
line protocol (the server alone). Results: one JSON row per run in bench/results/, medians in
docs/performance.md.

    python -m bench.ingest_bench --repeat 3
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import paho.mqtt.client as paho
import typer
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rich.console import Console
from rich.progress import Progress

from citysense import wire
from citysense.mqtt import connect_and_wait, make_client
from citysense.settings import BrokerSettings
from citysense.timeseries import open_store
from testbed.influxdb import InfluxDB, influxdb
from testbed.servers import Mosquitto, free_port, mosquitto

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
console = Console()
app = typer.Typer(add_completion=False)

QUANTITIES = ("pm25", "pm10", "temperature", "humidity", "noise")
DEVICES = 50


def make_stream(readings: int, pack_size: int) -> list[tuple[str, bytes]]:
    """(topic, SenML pack) messages holding `readings` distinct readings, spread over DEVICES devices."""
    start = int(time.time() * 1000) - 6 * 3_600_000
    messages = []
    for m in range(readings // pack_size):
        device = f"bench-{m % DEVICES:03d}"
        base = start + (m // DEVICES) * pack_size * 10
        pack = [
            wire.Reading(device, QUANTITIES[k % len(QUANTITIES)], float(k % 50), base + k * 10)
            for k in range(pack_size)
        ]
        messages.append((wire.readings_topic(device), wire.build_pack(device, pack)))
    return messages


def queue_for(broker: BrokerSettings, client_id: str) -> None:
    """Create the persistent shared-subscription session that the stream will be queued for."""
    client = make_client(broker, client_id=client_id, manual_ack=True, protocol=paho.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    connect_and_wait(client, broker, clean_start=True, properties=properties)
    client.subscribe(wire.SHARED_READINGS_FILTER, qos=1)
    done.wait(10)
    client.disconnect()
    client.loop_stop()


def publish(broker: BrokerSettings, messages: list[tuple[str, bytes]]) -> None:
    client = make_client(broker, client_id=f"bench-pub-{time.monotonic_ns()}")
    client.max_inflight_messages_set(20)
    connect_and_wait(client, broker)
    # Packet ids are 16 bits: never more than 20,000 messages waiting for their PUBACK.
    for start in range(0, len(messages), 20_000):
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages[start : start + 20_000]]
        for info in infos:
            info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def drain_bare(broker: BrokerSettings, client_id: str, expected: int) -> float:
    """The broker alone: messages/s of a client that only acknowledges, on the same queued stream."""
    client = make_client(broker, client_id=client_id, manual_ack=True, protocol=paho.MQTTv5)
    got = [0]
    done = threading.Event()
    first: list[float] = []

    def on_message(c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
        if not first:
            first.append(time.perf_counter())
        c.ack(m.mid, m.qos)
        got[0] += 1
        if got[0] >= expected:
            done.set()

    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 5000
    connect_and_wait(client, broker, clean_start=False, properties=properties)
    done.wait(600)
    elapsed = time.perf_counter() - first[0]
    client.disconnect()
    client.loop_stop()
    return expected / elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, all processes) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU seconds of some processes, and of the whole machine, between two instants."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.machine = machine_busy_s()
        self.t0 = time.perf_counter()

    def used(self) -> dict[str, float]:
        """CPU seconds per process, plus `machine_cores`: how many cores were busy on average."""
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        used["machine_cores"] = (machine_busy_s() - self.machine) / (time.perf_counter() - self.t0)
        return used


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


@contextmanager
def ingest_process(broker: Mosquitto, store_url: str, client_id: str, workdir: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = {
        **os.environ,
        "CITYSENSE_BROKER__URL": broker.url,
        "CITYSENSE_TIMESERIES_URL": store_url,
        "CITYSENSE_DATA_DIR": str(workdir),
        "CITYSENSE_CLIENT_ID": client_id,
        "CITYSENSE_METRICS_PORT": str(port),
        "CITYSENSE_LOG_LEVEL": "WARNING",
    }
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / "ingest.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "ingest"], env=env, stdout=log, stderr=log, cwd=ROOT
        )
    try:
        yield process.pid, port
    finally:
        process.terminate()
        process.wait(30)


def measure_ingest(workers: list[tuple[int, int]], messages: int, others: dict[str, int]) -> dict[str, float]:
    """Poll every worker's /metrics until all messages are acknowledged.

    The rate is taken between the first message any worker received and the last acknowledgement;
    CPU seconds are the workers' own (and those of `others`) over the same window.
    """
    pids = {f"worker-{i}": pid for i, (pid, _port) in enumerate(workers)} | others
    window: CpuWindow | None = None
    deadline = time.monotonic() + 900
    last_change, last_acked = time.monotonic(), -1.0
    while time.monotonic() < deadline:
        texts = []
        for _pid, port in workers:
            try:
                texts.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
            except httpx.TransportError:
                texts.append("")
        received = sum(metric(t, "citysense_ingest_messages_received_total") for t in texts)
        if window is None and received > 0:
            window = CpuWindow(pids)
        acked = sum(metric(t, "citysense_ingest_messages_acknowledged_total") for t in texts)
        if acked != last_acked:
            last_change, last_acked = time.monotonic(), acked
        elif time.monotonic() - last_change > 60:
            raise TimeoutError(f"ingest stalled at {acked:.0f} of {messages} messages")
        if acked >= messages:
            assert window is not None
            used = window.used()
            return {
                **used,
                "seconds": time.perf_counter() - window.t0,
                "cpu_s": sum(used[name] for name in pids if name.startswith("worker-")),
                "stored": sum(metric(t, "citysense_ingest_readings_stored_total") for t in texts),
                "retries": sum(metric(t, "citysense_ingest_store_retries_total") for t in texts),
                "redelivered": sum(metric(t, "citysense_ingest_readings_duplicate_total") for t in texts),
            }
        time.sleep(0.02)
    raise TimeoutError("ingest did not finish within 15 minutes")


def influx_bulk_load(server: InfluxDB, messages: list[tuple[str, bytes]], database: str) -> dict[str, float]:
    """The server alone: readings/s of a plain bulk load of the same readings as line protocol."""
    lines = []
    for topic, payload in messages:
        device = wire.device_from_topic(topic)
        for r in wire.parse_pack(payload, device_id=device).readings:
            lines.append(f"readings,device={r.device_id},quantity={r.quantity} value={r.value!r} {r.time_ms}")
    assert server.process is not None
    with httpx.Client(base_url=server.http, timeout=60) as http:
        http.post("/query", data={"q": f'CREATE DATABASE "{database}"'})
        window = CpuWindow({"server": server.process.pid})
        started = time.perf_counter()
        for i in range(0, len(lines), 5000):
            body = "\n".join(lines[i : i + 5000]).encode()
            http.post("/write", params={"db": database, "precision": "ms"}, content=body).raise_for_status()
        rate = len(lines) / (time.perf_counter() - started)
        used = window.used()
    return {
        "server_bulk_load_readings_per_s": round(rate),
        "server_bulk_load_server_cpu_s_per_million": round(used["server"] / len(lines) * 1e6, 2),
        "server_bulk_load_machine_cores": round(used["machine_cores"], 2),
    }


def one_run(
    store: str, pack_size: int, readings: int, workers: int, workdir: Path, influx: InfluxDB | None
) -> dict[str, Any]:
    messages = make_stream(readings, pack_size)
    run_id = f"{store}-{pack_size}-{workers}-{time.monotonic_ns()}"
    unbounded = "max_queued_messages 0\nmax_inflight_messages 0\n"
    # The broker alone, on the same stream (a broker of its own: one shared group per broker).
    with mosquitto(workdir / run_id / "bare", extra_config=unbounded) as broker:
        queue_for(broker.settings, "bare")
        publish(broker.settings, messages)
        broker_rate = drain_bare(broker.settings, "bare", len(messages)) * pack_size
    # Ingest into the store: the broker splits the queued stream between the workers' sessions.
    with mosquitto(workdir / run_id / "ingest", extra_config=unbounded) as broker:
        if store == "sqlite":
            store_url = f"sqlite:///{workdir / run_id / 'ts.db'}"
        else:
            assert influx is not None
            store_url = influx.url(run_id.replace("-", "_"))
        client_ids = [f"ingest-bench-{i}" for i in range(workers)]
        for client_id in client_ids:
            queue_for(broker.settings, client_id)
        publish(broker.settings, messages)
        with ExitStack() as stack:
            started = [
                stack.enter_context(ingest_process(broker, store_url, client_id, workdir / run_id / client_id))
                for client_id in client_ids
            ]
            assert broker.process is not None
            others = {"broker": broker.process.pid}
            if store == "influxdb":
                assert influx is not None
                assert influx.process is not None
                others["server"] = influx.process.pid
            result = measure_ingest(started, len(messages), others)
    opened = open_store(store_url)
    count = opened.count()
    opened.close()
    row: dict[str, Any] = {
        "store": store,
        "pack_size": pack_size,
        "workers": workers,
        "readings": readings,
        "messages": len(messages),
        "readings_per_s": round(readings / result["seconds"]),
        "messages_per_s": round(len(messages) / result["seconds"]),
        "lost": max(readings - count, 0),
        "duplicated": max(count - readings, 0),
        "cpu_s_per_million": round(result["cpu_s"] / readings * 1e6, 2),
        "broker_cpu_s_per_million": round(result["broker"] / readings * 1e6, 2),
        # How many of the machine's cores were busy, on average, while ingest ran (all processes).
        "machine_cores": round(result["machine_cores"], 2),
        "broker_alone_readings_per_s": round(broker_rate),
        "store_retries": int(result["retries"]),
        # Readings that came twice (redelivery) and that the idempotent write stored once.
        "redelivered_absorbed": int(result["redelivered"]),
        "qos": 1,
        **({"server_cpu_s_per_million": round(result["server"] / readings * 1e6, 2)} if "server" in result else {}),
    }
    if influx is not None and store == "influxdb":
        row.update(influx_bulk_load(influx, messages, f"bulk_{time.monotonic_ns()}"))
    return row


@app.command()
def main(
    repeat: Annotated[int, typer.Option(min=1, help="runs per case (medians are reported)")] = 3,
    scale: Annotated[float, typer.Option(min=0.01, help="multiply the number of readings per run")] = 1.0,
    stores: Annotated[str, typer.Option(help="comma-separated: sqlite,influxdb")] = "sqlite,influxdb",
    packs: Annotated[str, typer.Option(help="comma-separated readings per message")] = "1,10,100",
    scaling_pack: Annotated[int, typer.Option(help="pack size of the two-worker runs (0: no two-worker runs)")] = 100,
) -> None:
    """Measure ingest throughput, loss and duplication; write bench/results/*.json and docs/performance.md.

    Every case runs `repeat` times, interleaved (case A, B, C, A, B, C, ...) so that a noisy
    neighbour on a shared machine spreads over all cases instead of spoiling one.
    """
    readings_for = {1: 100_000, 10: 300_000}
    pack_sizes = [int(p) for p in packs.split(",")]
    cases = [(s, p, 1) for s in stores.split(",") for p in pack_sizes]
    if scaling_pack:
        cases += [(s, scaling_pack, 2) for s in stores.split(",")]
    rows: list[dict[str, Any]] = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, influxdb(Path(tmp) / "influx") as influx:
        plan = cases * repeat
        with Progress(console=console) as progress:
            task = progress.add_task("benchmark runs", total=len(plan))
            for store, pack_size, workers in plan:
                readings = int(readings_for.get(pack_size, 1_000_000) * workers * scale)
                row = one_run(store, pack_size, readings, workers, Path(tmp), influx)
                console.log(row)
                rows.append(row)
                progress.advance(task)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()}
    (RESULTS / f"ingest-{stamp}.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    write_markdown(rows, meta)
    console.print(f"results in bench/results/ingest-{stamp}.json and docs/performance.md")


def summary(groups: dict[tuple[str, int, int], list[dict[str, Any]]]) -> list[str]:
    """The figures the targets are stated in, from the medians of the same run."""

    def median(store: str, pack: int, workers: int, key: str = "readings_per_s") -> float | None:
        values = [r[key] for r in groups.get((store, pack, workers), []) if key in r]
        return statistics.median(values) if values else None

    lines = []
    for store, pack, workers in sorted(groups):
        if workers != 1:
            continue
        rate = median(store, pack, 1)
        assert rate is not None
        line = f"- {store}, packs of {pack}, one worker: {rate:,.0f} readings/s"
        bulk = median(store, pack, 1, "server_bulk_load_readings_per_s")
        if bulk:
            line += f", {rate / bulk:.0%} of the server's own bulk load ({bulk:,.0f} readings/s)"
        two = median(store, pack, 2)
        if two:
            line += f"; two workers {two:,.0f} readings/s, {two / rate:.2f}x one"
        lines.append(line + ".")
    runs = [r for rs in groups.values() for r in rs]
    lost, duplicated = sum(r["lost"] for r in runs), sum(r["duplicated"] for r in runs)
    lines.append(f"- Over all {len(runs)} runs: {lost} readings lost, {duplicated} duplicated.")
    return lines


def write_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["store"], row["pack_size"], row.get("workers", 1)), []).append(row)
    table = [
        "| store | pack | workers | runs | readings/s (median) | messages/s | broker alone, readings/s"
        " | server bulk load, readings/s | ingest CPU s per 1M readings | server CPU s per 1M readings"
        " | cores busy | lost | duplicated |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (store, pack, workers), runs in sorted(groups.items()):

        def med(key: str, digits: int = 0, runs: list[dict[str, Any]] = runs) -> str:
            values = [r[key] for r in runs if key in r]
            return f"{statistics.median(values):,.{digits}f}" if values else "-"

        table.append(
            f"| {store} | {pack} | {workers} | {len(runs)} | {med('readings_per_s')} | {med('messages_per_s')}"
            f" | {med('broker_alone_readings_per_s')} | {med('server_bulk_load_readings_per_s')}"
            f" | {med('cpu_s_per_million', 2)} | {med('server_cpu_s_per_million', 2)} | {med('machine_cores', 2)}"
            f" | {sum(r['lost'] for r in runs)} | {sum(r['duplicated'] for r in runs)} |"
        )
    table += ["", *summary(groups)]
    path = ROOT / "docs" / "performance.md"
    text = path.read_text() if path.exists() else ""
    marker_start, marker_end = "<!-- bench:ingest:start -->", "<!-- bench:ingest:end -->"
    block = (
        f"{marker_start}\nMeasured by `make bench` on {meta['cpus']} CPUs ({meta['machine']}, Python {meta['python']}),"
        f" {time.strftime('%Y-%m-%d')}:\n\n" + "\n".join(table) + f"\n{marker_end}"
    )
    if marker_start in text:
        text = text[: text.index(marker_start)] + block + text[text.index(marker_end) + len(marker_end) :]
    else:
        text += "\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    app()

"""HTTP load on the API: `/public/v1/status` at a fixed rate, and 24 h of readings at 1-minute buckets.

    python bench/api_load.py run              # both stores: SQLite, and InfluxDB when influxd is installed
    python bench/api_load.py run --rate 800   # push harder

`run` seeds a city (the simulated fleet, 24 h of readings), serves it with `citysense api` (one
uvicorn worker, as in production) and drives it from a separate load-generator process. The
generator is open-loop: requests are scheduled at a fixed rate and each latency is measured from
its scheduled time, so a slow server cannot hide its queueing delay by slowing the generator
down (no coordinated omission). Rate limiting stays on, with a limit raised above the load, so
its cost is in the figures; the load comes from one address where real traffic comes from many.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

app = typer.Typer(help="HTTP load on the citysense API (public status and operator readings).", no_args_is_help=True)

READINGS_DEVICE = "sungai-barat-water-01"


# ----------------------------------------------------------------------------- load generator


async def _one_connection(
    host: str, port: int, request: bytes, queue: asyncio.Queue[float | None], results: list[tuple[float, int]]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (scheduled := await queue.get()) is not None:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status = 0
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            results.append((time.perf_counter() - scheduled, status))
    finally:
        writer.close()


async def _generate(
    url: str, headers: dict[str, str], rate: float, duration_s: float, connections: int
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    queue: asyncio.Queue[float | None] = asyncio.Queue()
    results: list[tuple[float, int]] = []
    workers = [asyncio.create_task(_one_connection(host, port, request, queue, results)) for _ in range(connections)]
    total = int(rate * duration_s)
    start = time.perf_counter() + 0.2
    for i in range(total):  # the schedule: request i is due at start + i / rate, whatever happens
        queue.put_nowait(start + i / rate)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = max(time.perf_counter() - start, 1e-9)
    latencies = sorted(r[0] for r in results)
    errors = sum(1 for _, status in results if status != 200)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "url": url,
        "target_rate": rate,
        "requests": len(results),
        "achieved_rate": round(len(results) / elapsed, 1),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
    }


@app.command()
def generate(
    url: Annotated[str, typer.Argument(help="the URL to load")],
    rate: Annotated[float, typer.Option(help="requests per second, scheduled open-loop")] = 500,
    duration: Annotated[float, typer.Option(help="seconds of load")] = 20,
    connections: Annotated[int, typer.Option(help="keep-alive connections")] = 64,
    header: Annotated[list[str] | None, typer.Option(help="'Name: value', repeatable")] = None,
) -> None:
    """Load one URL at a fixed rate and print the latency distribution as JSON (used by `run`)."""
    headers = dict(h.split(": ", 1) for h in header or [])
    print(json.dumps(asyncio.run(_generate(url, headers, rate, duration, connections))))


# ----------------------------------------------------------------------------- the city under load


def _seed(data_dir: Path, timeseries_url: str) -> str:
    """The simulated fleet with 24 h of readings (1 per 10 min each, 1 per 5 s for one gauge); returns a key."""
    from citysense.db import connect
    from citysense.db.devices import DeviceInfo, register_devices
    from citysense.keys import SCOPES, create_key
    from citysense.settings import ApiSettings
    from citysense.timeseries import open_store
    from citysense.wire import Reading
    from simulators.city import build_fleet

    settings = ApiSettings(data_dir=data_dir, timeseries_url=timeseries_url)
    sessions = connect(settings.tickets_url)
    fleet = build_fleet()
    register_devices(sessions, [DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in fleet])
    store = open_store(timeseries_url)
    now_ms = int(time.time() * 1000) // 1000 * 1000
    day_ms = 24 * 3600 * 1000
    try:
        with typer.progressbar(fleet, label="seeding 24 h of readings") as devices:
            for device in devices:
                step = 5_000 if device.device_id == READINGS_DEVICE else 600_000
                batch = [
                    Reading(device.device_id, q, 1.0 + (t % 3_600_000) / 3_600_000, now_ms - day_ms + t)
                    for q in device.quantities
                    for t in range(0, day_ms, step)
                ]
                for i in range(0, len(batch), 20_000):
                    store.write(batch[i : i + 20_000])
    finally:
        store.close()
    return create_key(sessions, name="bench", scopes=list(SCOPES)).key


@contextmanager
def _api(data_dir: Path, timeseries_url: str) -> Iterator[str]:
    from testbed.servers import free_port, wait_for_port

    port = free_port()
    env = {
        **os.environ,
        "CITYSENSE_DATA_DIR": str(data_dir),
        "CITYSENSE_TIMESERIES_URL": timeseries_url,
        "CITYSENSE_RATE_LIMIT_PER_S": "1000000",
        "CITYSENSE_RATE_LIMIT_BURST": "1000000",
        "CITYSENSE_LOG_LEVEL": "WARNING",
    }
    env.pop("CITYSENSE_TICKETS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "api", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, timeout_s=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _load(url: str, *, rate: float, duration: float, connections: int, headers: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "generate", url, f"--rate={rate}", f"--duration={duration}"]
    command += [f"--connections={connections}", *(f"--header={k}: {v}" for k, v in headers.items())]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _bench_store(
    name: str, timeseries_url: str, *, rate: float, duration: float, readings_rate: float
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="citysense-bench-") as tmp:
        data_dir = Path(tmp)
        typer.echo(f"[{name}] seeding {timeseries_url.split('?')[0]}")
        key = _seed(data_dir, timeseries_url)
        results = []
        with _api(data_dir, timeseries_url) as base:
            import httpx

            auth = {"Authorization": f"Bearer {key}"}
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            start = end - timedelta(hours=24)
            readings = (
                f"{base}/api/v1/readings?device_id={READINGS_DEVICE}&quantity=water_level"
                f"&start={start.strftime('%Y-%m-%dT%H:%M:%SZ')}&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}&bucket=60"
            )
            check = httpx.get(readings, headers=auth, timeout=30).json()
            typer.echo(f"[{name}] readings answer: {len(check['data'])} buckets of 1 minute")
            httpx.get(f"{base}/public/v1/status", timeout=30).raise_for_status()  # warm
            if name == "sqlite":
                typer.echo(f"[{name}] /public/v1/status at {rate:g}/s for {duration:g} s")
                status = _load(f"{base}/public/v1/status", rate=rate, duration=duration, connections=64, headers={})
                results.append({"store": name, "endpoint": "/public/v1/status", **status})
            typer.echo(f"[{name}] /api/v1/readings (24 h, 60 s buckets) at {readings_rate:g}/s for {duration:g} s")
            loaded = _load(readings, rate=readings_rate, duration=duration, connections=8, headers=auth)
            results.append({"store": name, "endpoint": "/api/v1/readings 24h/60s", **loaded})
        return results


@app.command()
def run(
    rate: Annotated[float, typer.Option(help="requests per second on /public/v1/status")] = 500,
    readings_rate: Annotated[float, typer.Option(help="requests per second on /api/v1/readings")] = 5,
    duration: Annotated[float, typer.Option(help="seconds of load per endpoint")] = 20,
    influxdb: Annotated[bool, typer.Option(help="also measure readings from a real InfluxDB (needs influxd)")] = True,
    output: Annotated[Path, typer.Option(help="where to write the results as JSON")] = ROOT / "var" / "bench-api.json",
) -> None:
    """Seed a city, serve it with one API worker, and load it; prints and saves p50/p99, rate and errors."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'timeseries.db'}"
        results += _bench_store("sqlite", sqlite_url, rate=rate, duration=duration, readings_rate=readings_rate)
    if influxdb and (shutil.which("influxd") or Path("/usr/bin/influxd").exists()):
        from testbed.influxdb import influxdb as influx_server

        with tempfile.TemporaryDirectory() as tmp, influx_server(Path(tmp)) as server:
            results += _bench_store("influxdb", server.url(), rate=rate, duration=duration, readings_rate=readings_rate)
    elif influxdb:
        typer.echo("influxd is not installed: InfluxDB skipped (scripts/ensure-system-deps.sh installs it)")
    typer.echo(f"\n{'store':9} {'endpoint':28} {'rate/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for r in results:
        typer.echo(
            f"{r['store']:9} {r['endpoint']:28} {r['achieved_rate']:8.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}"
            f" {r['max_ms']:8.2f} {r['errors']:7d}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    typer.echo(f"\nsaved to {output}")


# ----------------------------------------------------------------------------- bounded routes, page by page


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_s(pid: int) -> float:
    """CPU seconds the process has used (user + system): its work, whatever else shares the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seed_week(data_dir: Path, timeseries_url: str, *, step_ms: int) -> tuple[str, int, int, int]:
    """Every air sensor of the city: 7 days of PM2.5, one gauge 31 days; returns (key, start, end, sensors)."""
    from citysense.db import connect
    from citysense.db.devices import DeviceInfo, register_devices
    from citysense.keys import SCOPES, create_key
    from citysense.settings import ApiSettings
    from citysense.timeseries import open_store
    from citysense.wire import Reading
    from simulators.city import build_fleet

    settings = ApiSettings(data_dir=data_dir, timeseries_url=timeseries_url)
    sessions = connect(settings.tickets_url)
    fleet = build_fleet()
    register_devices(sessions, [DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in fleet])
    end_ms = int(time.time() * 1000) // 60_000 * 60_000
    start_ms = end_ms - 7 * 86_400_000
    air = [d for d in fleet if "pm25" in d.quantities]
    store = open_store(timeseries_url)
    try:
        with typer.progressbar(air, label="seeding 7 days of PM2.5 per air sensor") as devices:
            for device in devices:
                batch = [
                    Reading(device.device_id, "pm25", 10.0 + (t // step_ms) % 40, t)
                    for t in range(start_ms, end_ms, step_ms)
                ]
                for i in range(0, len(batch), 20_000):
                    store.write(batch[i : i + 20_000])
        month = [
            Reading(READINGS_DEVICE, "water_level", 1.0, t) for t in range(end_ms - 31 * 86_400_000, end_ms, 60_000)
        ]
        for i in range(0, len(month), 20_000):
            store.write(month[i : i + 20_000])
    finally:
        store.close()
    return create_key(sessions, name="bench", scopes=list(SCOPES)).key, start_ms, end_ms, len(air)


@contextmanager
def _api_process(data_dir: Path, timeseries_url: str) -> Iterator[tuple[str, int]]:
    from testbed.servers import free_port, wait_for_port

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYSENSE_")},
        "CITYSENSE_DATA_DIR": str(data_dir),
        "CITYSENSE_TIMESERIES_URL": timeseries_url,
        "CITYSENSE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "api", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, timeout_s=60)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pages_store(name: str, timeseries_url: str, *, step_ms: int, limit: int, repeat: int) -> list[dict[str, Any]]:
    import httpx

    with tempfile.TemporaryDirectory(prefix="citysense-bench-") as tmp:
        data_dir = Path(tmp)
        typer.echo(f"[{name}] seeding")
        key, start_ms, end_ms, sensors = _seed_week(data_dir, timeseries_url, step_ms=step_ms)
        results = []
        with _api_process(data_dir, timeseries_url) as (base, pid), httpx.Client(base_url=base, timeout=120) as http:
            http.get("/healthz").raise_for_status()
            baseline = _peak_rss(pid)
            params: dict[str, Any] = {
                "quantity": "pm25",
                "start": _iso(start_ms),
                "end": _iso(end_ms),
                "bucket": 60,
                "limit": limit,
            }
            slots = sensors * 7 * 24 * 60
            pages = -(-slots // limit)
            # One request of another quantity first: imports and connections are not a page's cost.
            http.get("/public/v1/export/readings.csv", params={"quantity": "humidity"}).raise_for_status()
            for label, offset in (("first", 0), ("last", (pages - 1) * limit)):
                times, cpu = [], []
                for _ in range(repeat):
                    began, used = time.perf_counter(), _cpu_s(pid)
                    response = http.get("/public/v1/export/readings.csv", params={**params, "offset": offset})
                    times.append(time.perf_counter() - began)
                    cpu.append(_cpu_s(pid) - used)
                elapsed = max(times)
                failed = "" if response.is_success else f" HTTP {response.status_code}"
                results.append(
                    {
                        "store": name,
                        "route": f"export 7 d x {sensors} sensors, 60 s, {label} of {pages} pages{failed}",
                        "rows": response.text.count("\n") - 1,
                        "bytes": len(response.content),
                        "seconds": round(elapsed, 3),
                        "api_cpu_s": round(max(cpu), 3),
                        "peak_rss_growth_mb": round((_peak_rss(pid) - baseline) / 2**20, 1),
                    }
                )
            auth = {"Authorization": f"Bearer {key}"}
            month = {
                "device_id": READINGS_DEVICE,
                "quantity": "water_level",
                "start": _iso(end_ms - 31 * 86_400_000 + 60_000),
                "end": _iso(end_ms),
            }
            week = {**month, "start": _iso(end_ms - 7 * 86_400_000), "bucket": 60}
            cases = (("7 d, 60 s buckets", week), ("31 d, 300 s buckets", {**month, "bucket": 300}))
            for label, extra in (*cases, ("31 d raw, first page", month)):
                began, used = time.perf_counter(), _cpu_s(pid)
                response = http.get("/api/v1/readings", params=extra, headers=auth)
                elapsed = time.perf_counter() - began
                cpu = [_cpu_s(pid) - used]
                results.append(
                    {
                        "store": name,
                        "route": f"/api/v1/readings {label}"
                        + ("" if response.is_success else f" HTTP {response.status_code}"),
                        "rows": len(response.json()["data"]) if response.is_success else 0,
                        "bytes": len(response.content),
                        "seconds": round(elapsed, 3),
                        "api_cpu_s": round(max(cpu), 3),
                        "peak_rss_growth_mb": round((_peak_rss(pid) - baseline) / 2**20, 1),
                    }
                )
        return results


@app.command()
def pages(
    limit: Annotated[int, typer.Option(help="slots per export page (the route's maximum is 10 000)")] = 10_000,
    step: Annotated[int, typer.Option(help="seconds between an air sensor's readings")] = 60,
    repeat: Annotated[int, typer.Option(help="requests per export page; the slowest is reported")] = 3,
    influxdb: Annotated[bool, typer.Option(help="also on a real InfluxDB (needs influxd)")] = True,
    output: Annotated[Path, typer.Option(help="where to write the results as JSON")] = ROOT
    / "var"
    / "bench-pages.json",
) -> None:
    """The bounded routes page by page: time (slowest of `repeat`) and the API process's peak-memory growth."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += _pages_store(
            "sqlite", f"sqlite:///{Path(tmp) / 'timeseries.db'}", step_ms=step * 1000, limit=limit, repeat=repeat
        )
    if influxdb and (shutil.which("influxd") or Path("/usr/bin/influxd").exists()):
        from testbed.influxdb import influxdb as influx_server

        with tempfile.TemporaryDirectory() as tmp, influx_server(Path(tmp)) as server:
            results += _pages_store("influxdb", server.url(), step_ms=step * 1000, limit=limit, repeat=repeat)
    typer.echo(f"\n{'store':9} {'route':52} {'rows':>6} {'KB':>7} {'s':>7} {'API CPU s':>9} {'peak RSS +MB':>12}")
    for r in results:
        typer.echo(
            f"{r['store']:9} {r['route']:52} {r['rows']:6d} {r['bytes'] / 1024:7.0f} {r['seconds']:7.3f}"
            f" {r['api_cpu_s']:9.3f} {r['peak_rss_growth_mb']:12.1f}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    typer.echo(f"\nsaved to {output}")


if __name__ == "__main__":
    app()

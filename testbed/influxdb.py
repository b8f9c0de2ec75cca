"""Real line-protocol servers for tests and benchmarks: InfluxDB (Debian's 1.6) and VictoriaMetrics.

Each runs from a config in its own folder, on free loopback ports, with its data in that folder;
`stop()` and `start()` keep ports and data, so a test can take a server away and bring it back.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testbed.servers import PortHold, free_port


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run scripts/ensure-system-deps.sh")
    return found


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


@dataclass
class _Server:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    held: PortHold = field(default_factory=PortHold)

    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.workdir / "server.log"
        self.held.release()
        with log.open("ab") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=out)
        _wait_ready(f"{self.http}/ping", self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self.held.hold(*self.ports())


@dataclass
class InfluxDB(_Server):
    """InfluxDB 1.x: `/write` and `/query`, no `/api/v2/write` before 1.8."""

    bind_port: int = field(default_factory=free_port)

    def url(self, database: str = "citysense") -> str:
        return f"influxdb://127.0.0.1:{self.port}/{database}"

    def ports(self) -> tuple[int, ...]:
        return (self.port, self.bind_port)

    def command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        if not conf.exists():
            conf.write_text(
                "reporting-enabled = false\n"
                f'bind-address = "127.0.0.1:{self.bind_port}"\n'
                f'[meta]\n  dir = "{self.workdir}/meta"\n  logging-enabled = false\n'
                f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
                '  query-log-enabled = false\n  wal-fsync-delay = "0s"\n'
                '[retention]\n  check-interval = "1s"\n'
                "[monitor]\n  store-enabled = false\n"
                f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
                "[continuous_queries]\n  enabled = false\n"
            )
        return [_binary("influxd"), "-config", str(conf)]


@dataclass
class VictoriaMetrics(_Server):
    """Accepts line protocol on `/api/v2/write` and `/write`; answers PromQL, not InfluxQL."""

    def url(self, database: str = "citysense") -> str:
        return f"influxdb://127.0.0.1:{self.port}/{database}"

    def command(self) -> list[str]:
        return [
            _binary("victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir}/data",
            "-search.latencyOffset=0s",
            "-dedup.minScrapeInterval=1ms",  # one sample per series and millisecond, as InfluxDB keeps
        ]

    def export(self) -> list[dict[str, object]]:
        """Every stored series with its samples (VictoriaMetrics' JSON-lines export)."""
        httpx.get(f"{self.http}/internal/force_flush", timeout=10)
        response = httpx.post(f"{self.http}/api/v1/export", data={"match[]": '{__name__=~".+"}'}, timeout=10)
        response.raise_for_status()
        import orjson

        return [orjson.loads(line) for line in response.content.splitlines() if line.strip()]

    def requests_to(self, path: str) -> int:
        """How many HTTP requests the server has served on `path` (from its own /metrics)."""
        text = httpx.get(f"{self.http}/metrics", timeout=10).text
        total = 0
        for line in text.splitlines():
            if line.startswith("vm_http_requests_total{") and f'path="{path}"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total


@contextmanager
def influxdb(workdir: Path) -> Iterator[InfluxDB]:
    """A real InfluxDB of this test's own."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = InfluxDB(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.held.release()


@contextmanager
def victoria_metrics(workdir: Path) -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics of this test's own."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = VictoriaMetrics(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.held.release()

"""The abuse suite's API: the real `citysense api` process on a loopback port, on real databases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from citysense.db import connect
from tests.support.servers import free_port

TOKEN = "abuse-suite-operator-token"


@dataclass
class Api:
    """A running API process: its URL, its process id and the databases it serves."""

    url: str
    pid: int
    tickets_url: str
    timeseries_url: str
    log: Path

    @property
    def sessions(self) -> sessionmaker[Session]:
        return connect(self.tickets_url)

    def peak_rss_bytes(self) -> int:
        """The process's peak resident memory so far (VmHWM), as the kernel counts it."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc status")

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]


def _started(process: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> bool:
    """Our process answers on `port` (not another test's server that took the port first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)  # any answer: it serves
            time.sleep(0.2)
            return process.poll() is None
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


@contextmanager
def api_process(workdir: Path, tickets_url: str, timeseries_url: str | None = None, **env: str) -> Iterator[Api]:
    """`citysense api` with nothing from the developer's CITYSENSE_* variables but what is given."""
    workdir.mkdir(parents=True, exist_ok=True)
    timeseries_url = timeseries_url or f"sqlite:///{workdir / 'timeseries.db'}"
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("CITYSENSE_")}
    environ |= {
        "CITYSENSE_DATA_DIR": str(workdir),
        "CITYSENSE_TICKETS_URL": tickets_url,
        "CITYSENSE_TIMESERIES_URL": timeseries_url,
        "CITYSENSE_OPERATOR_TOKEN": TOKEN,
        "CITYSENSE_LOG_LEVEL": "WARNING",
        **env,
    }
    connect(tickets_url)  # migrated before the process starts, so tests may seed at once
    for _ in range(3):  # a free port can be taken by another test's server before ours binds it
        port = free_port()
        log = workdir / f"api-{port}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "launcher.cli", "api", "--port", str(port)], env=environ, stdout=out, stderr=out
            )
        if _started(process, port):
            break
        process.kill()
        process.wait()
        if "already in use" not in log.read_text():
            raise RuntimeError(f"the API did not start: {log.read_text()[-3000:]}")
    else:
        raise RuntimeError("no free port for the API after 3 tries")
    try:
        yield Api(f"http://127.0.0.1:{port}", process.pid, tickets_url, timeseries_url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def api(tmp_path: Path, tickets_url: str) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL, defaults as shipped (no allowed webhook networks, no proxies)."""
    with api_process(tmp_path / "api", tickets_url) as running:
        yield running

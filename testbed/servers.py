"""Real servers for tests and benchmarks, each on a free loopback port, each caller with its own."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from citysense.settings import BrokerSettings

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortHold:
    """Keeps a stopped server's ports bound, not listening, until it starts again.

    A client still gets "connection refused", as from any stopped server, but the kernel hands the
    port to no other socket meanwhile: neither `free_port()` (a bind to port 0) nor another test's
    outgoing connection can take it, so the restart on the same port cannot find it in use.
    """

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []

    def hold(self, *ports: int) -> None:
        for port in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the old connections' TIME_WAIT
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()  # someone has it already: the restart will say so
                continue
            self._sockets.append(s)

    def release(self) -> None:
        for s in self._sockets:
            s.close()
        self._sockets.clear()


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        raise RuntimeError("mosquitto is not installed: run scripts/ensure-system-deps.sh")
    return found


@dataclass
class Mosquitto:
    """A Mosquitto broker of this test's own; `restart()` keeps the port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Locked-down brokers (password file, ACL) and brokers that keep messages across restarts.
    allow_anonymous: bool = True
    persistence: bool = False
    extra_config: str = ""
    held: PortHold = field(default_factory=PortHold)

    @property
    def settings(self) -> BrokerSettings:
        return BrokerSettings(url=f"mqtt://127.0.0.1:{self.port}")

    @property
    def url(self) -> str:
        return self.settings.url

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {str(self.allow_anonymous).lower()}\n"
            + (
                f"persistence true\npersistence_location {self.workdir}/\nautosave_interval 1\n"
                if self.persistence
                else "persistence false\n"
            )
            + "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n" + self.extra_config
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.held.release()
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
            self.held.hold(self.port)


@contextmanager
def mosquitto(workdir: Path, **options: Any) -> Iterator[Mosquitto]:
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(workdir, **options)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        broker.held.release()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server; dropped afterwards."""
    name = f"citysense_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

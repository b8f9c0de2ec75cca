"""Running services in the foreground: logging, start in order, stop in reverse on a signal."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from rich.logging import RichHandler

from citysense.errors import CitysenseError

__all__ = ["Service", "check_port_free", "run_until_signal", "setup_logging"]


class Service(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format="%(name)s: %(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(show_path=False, rich_tracebacks=True)],
        force=True,
    )
    for noisy in ("amqtt", "transitions", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail early with a clear message instead of deep inside a server's start-up."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CitysenseError(f"{what} cannot use {host}:{port}: {exc.strerror}; choose another port") from None


def run_until_signal(services: Sequence[Service], *, foreground: Callable[[], None] | None = None) -> None:
    """Start services in order; block until SIGINT/SIGTERM (or `foreground` returns); stop in reverse."""
    started: list[Service] = []
    try:
        for service in services:
            service.start()
            started.append(service)
        if foreground is not None:
            foreground()
        else:
            done = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: done.set())
            done.wait()
    finally:
        for service in reversed(started):
            try:
                service.stop()
            except Exception:
                logging.getLogger(__name__).exception("stopping %s failed", type(service).__name__)

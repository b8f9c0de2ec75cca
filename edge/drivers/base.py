"""The driver interface every sensor implements, and the errors drivers raise."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from citysense.errors import CitysenseError

__all__ = ["Closeable", "Driver", "DriverError", "FrameCounters"]


class DriverError(CitysenseError):
    """A sensor could not be read this time (no frame, bus error); the agent counts it and samples again later."""


@runtime_checkable
class Driver(Protocol):
    """A sensor: `read()` samples it now and returns values by wire quantity name."""

    quantities: tuple[str, ...]

    def read(self) -> dict[str, float]: ...


@runtime_checkable
class Closeable(Protocol):
    """Drivers that hold a port or a pin release it in `close()`."""

    def close(self) -> None: ...


class FrameCounters:
    """What a byte-stream protocol saw: good frames and malformed ones (rejected, never trusted)."""

    def __init__(self) -> None:
        self.frames_ok = 0
        self.frames_rejected = 0

    def snapshot(self) -> dict[str, int]:
        return {"frames_ok": self.frames_ok, "frames_rejected": self.frames_rejected}

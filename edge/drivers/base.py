"""The driver interface every sensor implements."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Driver"]


class Driver(Protocol):
    """A sensor: `read()` samples it now and returns values by wire quantity name."""

    quantities: tuple[str, ...]

    def read(self) -> dict[str, float]: ...

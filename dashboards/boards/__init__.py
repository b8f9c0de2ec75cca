"""One module per dashboard; each has `build() -> Board`. `ALL` lists them in menu order."""

from __future__ import annotations

from collections.abc import Callable

from dashboards.boards import air, devices, noise_traffic, overview, pipeline, tickets, water
from dashboards.panels import Board

__all__ = ["ALL"]

ALL: tuple[Callable[[], Board], ...] = (
    overview.build,
    air.build,
    water.build,
    noise_traffic.build,
    devices.build,
    tickets.build,
    pipeline.build,
)

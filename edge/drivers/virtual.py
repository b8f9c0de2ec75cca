"""Sensors made of a function of time: what the simulators plug into the edge code path, and what a
node without hardware (a bench, a demo) samples."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

__all__ = ["VirtualDriver", "wave"]


class VirtualDriver:
    def __init__(
        self,
        quantities: tuple[str, ...],
        signal: Callable[[float], dict[str, float]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.quantities = quantities
        self._signal = signal
        self._clock = clock

    def read(self) -> dict[str, float]:
        values = self._signal(self._clock())
        return {q: values[q] for q in self.quantities if q in values}


def wave(
    quantity: str, *, base: float, amplitude: float = 0.0, period_s: float = 3600.0, noise: float = 0.0, seed: int = 0
) -> Callable[[float], dict[str, float]]:
    """A daily-cycle-like sine with Gaussian noise, never below zero for quantities that cannot be."""
    rng = random.Random(seed)

    def signal(now: float) -> dict[str, float]:
        value = base + amplitude * math.sin(2 * math.pi * now / period_s) + (rng.gauss(0, noise) if noise else 0.0)
        return {quantity: round(value if quantity in ("temperature", "water_level") else max(value, 0.0), 3)}

    return signal

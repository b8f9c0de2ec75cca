"""Tipping-bucket rain gauge on a GPIO pin (a reed switch closes once per bucket tip).

Each tip is a fixed depth of rain (0.2794 mm for the common Misol/SparkFun gauges). The edge
interrupt only counts; `read()` reports the rain since the previous read, so the agent sums
reports (never takes their median). gpiozero is imported when the gauge is built, so the rest
of the agent imports and tests run on machines without GPIO.
"""

from __future__ import annotations

import threading
from typing import Any

from edge.drivers.base import DriverError

__all__ = ["RainGauge", "TipCounter"]


class TipCounter:
    """Thread-safe tip count: the GPIO callback thread adds, the sampler takes."""

    def __init__(self, mm_per_tip: float) -> None:
        if mm_per_tip <= 0:
            raise ValueError("mm_per_tip must be positive")
        self.mm_per_tip = mm_per_tip
        self.total_tips = 0
        self._since_read = 0
        self._lock = threading.Lock()

    def tip(self) -> None:
        with self._lock:
            self._since_read += 1
            self.total_tips += 1

    def take_mm(self) -> float:
        with self._lock:
            tips, self._since_read = self._since_read, 0
        return round(tips * self.mm_per_tip, 4)


class RainGauge:
    quantities: tuple[str, ...] = ("rainfall",)

    def __init__(
        self, *, pin: int, mm_per_tip: float = 0.2794, bounce_s: float | None = 0.05, pin_factory: Any = None
    ) -> None:
        from gpiozero import Button  # optional at import time: only a real gauge needs it

        self.counter = TipCounter(mm_per_tip)
        try:
            # Pull-up: the reed switch pulls the pin low while the bucket passes.
            self._button = Button(pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory)
        except Exception as exc:  # gpiozero raises its own hierarchy (no pin factory, pin in use)
            raise DriverError(f"GPIO{pin}: {exc}") from exc
        self._button.when_pressed = lambda *_: self.counter.tip()

    def read(self) -> dict[str, float]:
        return {"rainfall": self.counter.take_mm()}

    def close(self) -> None:
        self._button.close()

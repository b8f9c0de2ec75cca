"""The virtual clock: simulated time runs at `speed` times wall time (1 = real time, inf = flat out)."""

from __future__ import annotations

import math
import threading
import time

__all__ = ["VirtualClock", "parse_duration", "parse_speed"]


class VirtualClock:
    def __init__(self, start: float, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive (1 = real time, inf = as fast as possible)")
        self.start = start
        self.speed = speed
        self._wall0 = time.monotonic()

    @property
    def accelerated(self) -> bool:
        return self.speed > 1

    def now(self) -> float:
        """The simulated time now."""
        if math.isinf(self.speed):
            raise ValueError("a flat-out clock has no 'now': it runs as fast as the work allows")
        return self.start + (time.monotonic() - self._wall0) * self.speed

    def wait_until(self, sim_time: float, stop: threading.Event) -> bool:
        """Sleep until the simulated `sim_time` arrives; False when `stop` was set meanwhile."""
        if math.isinf(self.speed):
            return not stop.is_set()
        delay = (sim_time - self.start) / self.speed - (time.monotonic() - self._wall0)
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float:
    """`300`, `45s`, `90m`, `12h`, `7d` or `1w` as seconds; a clear ValueError otherwise."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:])
    number = text[:-1] if unit is not None else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration: use seconds or a number with s, m, h, d or w (7d)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return seconds


def parse_speed(text: str) -> float:
    """`1` (real time), `60` (an hour a minute) or `max` (as fast as the sink takes it)."""
    if text.strip().lower() in ("max", "inf", "0"):
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed {text!r} is not a number or 'max'") from None
    if not speed > 0:
        raise ValueError("speed must be positive, or 'max'")
    return speed

"""A sensor made of a function of time: what the simulators plug into the edge code path."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["VirtualDriver"]


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

"""Signals of the simulated sensors: a plausible baseline, noise, and the scenario's incidents."""

from __future__ import annotations

import math
import random

from simulators.city import SimDevice
from simulators.scenario import Scenario

__all__ = ["SignalModel"]

_DAY_S = 86_400.0


class SignalModel:
    """Deterministic for a given seed: each device draws from its own random stream."""

    def __init__(self, scenario: Scenario, seed: int, start_time: float) -> None:
        self.scenario = scenario
        self.seed = seed
        self.start_time = start_time
        self._rngs: dict[str, random.Random] = {}

    def _rng(self, device_id: str) -> random.Random:
        rng = self._rngs.get(device_id)
        if rng is None:
            rng = self._rngs[device_id] = random.Random(f"{self.seed}:{device_id}")
        return rng

    def _intensity(self, kind: str, district: str, now: float) -> tuple[float, float]:
        """Strongest active incident of this kind here: (intensity 0..1, its peak)."""
        best = (0.0, 0.0)
        for incident in self.scenario.incidents:
            if incident.kind == kind and incident.district == district:
                level = incident.intensity(now - self.start_time)
                if level > best[0]:
                    best = (level, incident.peak)
        return best

    def sample(self, device: SimDevice, now: float) -> dict[str, float]:
        rng = self._rng(device.device_id)
        day = math.sin(2 * math.pi * ((now % _DAY_S) / _DAY_S - 0.25))
        values: dict[str, float] = {}
        if device.kind == "air":
            pm25 = 18 + 6 * day + rng.gauss(0, 2)
            level, peak = self._intensity("pollution", device.district, now)
            pm25 += level * (peak * rng.uniform(0.9, 1.1) - pm25)
            pm25 = max(pm25, 1.0)
            values["pm25"] = round(pm25, 1)
            values["pm10"] = round(pm25 * 1.6 + abs(rng.gauss(0, 3)), 1)
            values["temperature"] = round(28 + 4 * day + rng.gauss(0, 0.3), 2)
            values["humidity"] = round(min(100.0, max(0.0, 75 - 10 * day + rng.gauss(0, 1.5))), 1)
        elif device.kind == "water":
            water = 0.8 + 0.1 * day + rng.gauss(0, 0.02)
            level, peak = self._intensity("flood", device.district, now)
            water += level * (peak * rng.uniform(0.95, 1.05) - water)
            values["water_level"] = round(max(water, 0.0), 3)
        return values

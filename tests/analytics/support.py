"""Small factories for analytics tests."""

from __future__ import annotations

import math
import random

from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.findings import Finding
from citysense.settings import AnalyticsSettings

DISTRICTS = {"river-1": "riverside", "river-2": "riverside", "hill-1": "hillside", "air-1": "riverside"}
KINDS = {"river": "water", "hill": "water", "air": "air", "bin": "bin", "lamp": "streetlight"}


def meta(device_id: str) -> DeviceMeta:
    return DeviceMeta(device_id, DISTRICTS.get(device_id, "riverside"), KINDS.get(device_id.split("-")[0], "unknown"))


def river_level(
    i: int, rng: random.Random, *, flood: range = range(0), flood_height: float = 0.0, swing: range = range(0)
) -> float:
    """A gauge's level at minute `i`: 1.2 m with a 12.4-hour tide and 2 cm of noise; during `flood` a
    crest of `flood_height` metres, rough with debris; during `swing` a quarter-metre swing every
    twelve minutes (the simulator's gauge oscillation)."""
    level = 1.2 + 0.3 * math.sin(2 * math.pi * i / (12.4 * 60)) + rng.gauss(0, 0.02)
    if i in flood:
        level += flood_height * math.sin(math.pi * (i - flood.start) / len(flood))
        level += 0.2 * math.sin(2 * math.pi * i / 9.0) + rng.gauss(0, 0.08)
    if i in swing:
        level += 0.25 * math.sin(2 * math.pi * i / 12.0)
    return level


def loud_by_day(hour: float, rng: random.Random) -> float:
    """A sensor loud by day (40 to 50, a spread of 4 at 13:00) and quiet at night (40, a spread of 0.5)."""
    daytime = math.exp(-(((hour - 13.0) / 4.0) ** 2))
    return 40.0 + 10.0 * daytime + rng.gauss(0, 0.5 + 3.5 * daytime)


def engine(**settings) -> Engine:
    return Engine(EngineConfig.from_settings(AnalyticsSettings(**settings)), meta)


def finding(device_id: str = "river-1", *, value: float = 3.0, time_ms: int, kind: str = "breach",
            service_code: str = "flood", severity: str = "high", detector: str = "rule:flood",
            scope: str = "district") -> Finding:  # fmt: skip
    return Finding(
        service_code=service_code,
        scope=scope,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        district=DISTRICTS.get(device_id, "riverside"),
        device_id=device_id,
        quantity="water_level",
        value=value,
        threshold=2.5,
        severity=severity,
        detector=detector,
        score=1.0,
        time_ms=time_ms,
        title="Flood risk",
        evidence={"window": [[time_ms, value]], "detector_version": "test"},
    )

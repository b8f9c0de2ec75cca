"""The replay's reasons for a miss follow what the engine did with each truth anomaly's series."""

from __future__ import annotations

import random

from analytics.engine import DeviceMeta, Engine, EngineConfig
from bench.anomaly_replay import _Trace
from citysense.settings import AnalyticsSettings
from citysense.wire import Reading

T0_MS = 1_767_546_000_000  # 2026-01-05 00:00 Asia/Jakarta
STEP_MS = 300_000
DAY = 288


def _record(rid: str, device: str, start_ms: int, end_ms: int) -> dict[str, object]:
    return {"id": rid, "category": "anomaly", "kind": "pattern_change", "devices": [device],
            "quantities": ["pm25"], "start_ms": start_ms, "end_ms": end_ms, "effect": 12.0}  # fmt: skip


def test_a_series_that_alarmed_is_told_from_one_that_never_did() -> None:
    """Two air sensors of two districts (no neighbours to share with), each with a truth anomaly on
    its sixteenth day: one reads twenty above itself for two hours, the other nothing unusual."""
    engine = Engine(
        EngineConfig.from_settings(AnalyticsSettings()),
        lambda device: DeviceMeta(device, "kota-lama" if device == "air-1" else "pelabuhan", "air"),
    )
    start, end = T0_MS + (15 * DAY + 120) * STEP_MS, T0_MS + (15 * DAY + 144) * STEP_MS
    trace = _Trace(engine, [_record("anm-1", "air-1", start, end), _record("anm-2", "air-2", start, end)], end)
    rng = random.Random(4)
    for i in range(16 * DAY):
        t = T0_MS + i * STEP_MS
        for device in ("air-1", "air-2"):
            bump = 20.0 if device == "air-1" and start <= t < end else 0.0
            engine.process(Reading(device, "pm25", 20.0 + rng.gauss(0, 1.0) + bump, t))
    why = {a["id"]: a for a in trace.why({"anm-2"}, confirm=3)}
    assert why["anm-1"]["why"] == "found"
    assert why["anm-1"]["alarm"] >= 12, why["anm-1"]
    assert why["anm-1"]["longest"] >= 12, why["anm-1"]
    assert why["anm-1"]["readings"] == 25  # from its start to its end, both included
    assert why["anm-2"]["why"] == "never at alarm"
    assert why["anm-2"]["alarm"] == 0
    assert why["anm-2"]["readings"] == 25  # from its start to its end, both included
    assert why["anm-2"]["effect"] == 12.0

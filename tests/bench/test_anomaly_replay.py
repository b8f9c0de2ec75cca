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
# Three air sensors, each alone in its district (no neighbours to share an alarm with).
DISTRICTS = {"air-1": "kota-lama", "air-2": "pelabuhan", "air-3": "taman-sari"}
# On the sixteenth day, for two hours: air-1 reads twenty above itself (under the air rule's limit),
# air-2 nothing unusual, air-3 sixty above itself (over the limit: the air rule's breach).
BUMP = {"air-1": 20.0, "air-2": 0.0, "air-3": 60.0}


def _record(rid: str, device: str, start_ms: int, end_ms: int) -> dict[str, object]:
    return {"id": rid, "category": "anomaly", "kind": "pattern_change", "devices": [device],
            "quantities": ["pm25"], "start_ms": start_ms, "end_ms": end_ms, "effect": BUMP[device]}  # fmt: skip


def test_each_missed_anomaly_gets_the_reason_its_series_shows() -> None:
    engine = Engine(
        EngineConfig.from_settings(AnalyticsSettings()), lambda device: DeviceMeta(device, DISTRICTS[device], "air")
    )
    start, end = T0_MS + (15 * DAY + 120) * STEP_MS, T0_MS + (15 * DAY + 144) * STEP_MS
    trace = _Trace(engine, [_record(f"anm-{device}", device, start, end) for device in BUMP], end)
    rng = random.Random(4)
    for i in range(16 * DAY):
        t = T0_MS + i * STEP_MS
        for device, bump in BUMP.items():
            engine.process(Reading(device, "pm25", 20.0 + rng.gauss(0, 1.0) + (bump if start <= t < end else 0.0), t))
    why = {a["device"]: a for a in trace.why({"anm-air-1", "anm-air-2", "anm-air-3"}, confirm=3)}
    # At alarm for most of the two hours, nothing vetoed it: a miss that is neither the detector's
    # nor a veto's (here no ticket policy ran at all).
    assert why["air-1"]["why"] == "other"
    assert why["air-1"]["alarm"] >= 12, why["air-1"]
    assert why["air-1"]["longest"] >= 12, why["air-1"]
    assert why["air-1"]["readings"] == 25  # from its start to its end, both included
    assert why["air-2"]["why"] == "never at alarm"
    assert why["air-2"]["alarm"] == 0
    assert why["air-3"]["why"] == "explained by a rule or fault", why["air-3"]
    assert why["air-3"]["effect"] == 60.0

"""A scenario's `plan:`: a fixed number of every incident, fault and anomaly kind, placed from the seed.

The evaluation sets need many cases of every kind in a few days of simulated city, at the hours
they happen in a real city (floods after afternoon rain, parties at night, a blocked road in a
weekday morning rush, loud noise at 3 am) and without two of a kind on top of each other in one
district, which would make one incident of two.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from simulators.city import City, SimDevice
from simulators.scenario import (
    ANOMALY_KINDS,
    ANOMALY_TARGETS,
    FAULT_KINDS,
    INCIDENT_KINDS,
    Anomaly,
    Fault,
    Incident,
    Plan,
)

__all__ = ["planned_events"]

_DAY_S = 86_400.0
# Which device kinds each fault is drawn on (a rain gauge cannot drift against anything, a street
# light has no neighbours to compare with, but all of them can die or go silent).
_FAULT_DEVICES: dict[str, tuple[str, ...]] = {
    "stuck": ("air", "water", "noise", "traffic"),
    "drift": ("air", "water", "noise"),
    "spikes": ("air", "water", "noise", "traffic"),
    "silence": ("air", "water", "noise", "traffic", "bin", "streetlight", "rain", "weather"),
    "battery_death": ("air", "water", "noise", "traffic", "rain", "weather"),
    "clock_skew": ("air", "water", "noise", "traffic", "rain", "weather"),
}
# Local hours an incident or anomaly may start at, and its duration in hours. Floods follow rain at
# any hour in the monsoon; parties run in the evening and past midnight.
_WHEN: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "flood": ((0, 24), (3, 5)),
    "pollution": ((6, 22), (2, 4)),
    "bin_overflow": ((7, 16), (4, 10)),
    "streetlight_failure": ((18.5, 23), (3, 8)),
    "noise_complaint": ((19, 24), (1, 2)),
    "traffic_collapse": ((6.5, 7.5), (1, 2.5)),
    "night_noise": ((2, 3.5), (0.5, 1.5)),
    "lamp_overdraw": ((18.5, 23), (3, 6)),
    "gauge_oscillation": ((0, 24), (2, 6)),
    "pattern_change": ((0, 24), (12, 24)),
    "stuck": ((0, 24), (2, 8)),
    "drift": ((0, 24), (12, 30)),
    "spikes": ((0, 24), (2, 8)),
    "silence": ((0, 24), (2, 8)),
    "battery_death": ((0, 24), (1, 1)),
    "clock_skew": ((0, 24), (2, 8)),
}
# Time a district (or device) keeps after an event before the next (the water recedes, a detector
# settles back on the device's normal).
_AFTER_S = {"flood": 5 * 3600.0, "pollution": 2 * 3600.0, "noise_complaint": 3600.0}
_DEVICE_AFTER_S = 1.5 * 3600.0


def _local(start_time: float, t: float, utc_offset_h: float) -> tuple[float, int]:
    """Local hour and weekday (0 = Monday) of `t` seconds after the start."""
    local = (start_time + t) / 3600.0 + utc_offset_h
    return local % 24, int((local // 24 + 3) % 7)


_Place = Callable[..., tuple[int, int] | None]
_OnDevice = tuple[SimDevice, int, int]


def _placer(rng: random.Random, utc_offset_h: float, start_time: float, plan: Plan, horizon: float) -> _Place:
    def place(
        kind: str, busy: list[tuple[float, float]], *, weekday_only: bool = False, after_s: float = 0.0
    ) -> tuple[int, int] | None:
        (h0, h1), (d0, d1) = _WHEN[kind]
        first_day, last_day = (
            int(plan.from_s // _DAY_S),
            max(int(plan.from_s // _DAY_S) + 1, math.ceil(horizon / _DAY_S)),
        )
        for _ in range(60):
            duration = rng.uniform(d0, d1) * 3600
            day = rng.randrange(first_day, last_day)
            first_hour, _ = _local(start_time, day * _DAY_S, utc_offset_h)
            start = day * _DAY_S + ((rng.uniform(h0, h1) - first_hour) % 24) * 3600
            if start < plan.from_s or start + duration > horizon - 1800:
                continue
            if weekday_only and _local(start_time, start, utc_offset_h)[1] >= 5:
                continue
            end = (horizon if kind == "battery_death" else start + duration) + _AFTER_S.get(kind, after_s)
            if any(start < b and a < end for a, b in busy):
                continue
            busy.append((start, end))
            return round(start), round(duration)
        return None

    return place


def planned_events(
    rng: random.Random,
    city: City,
    devices: Sequence[SimDevice],
    plan: Plan,
    start_time: float,
    horizon: float,
) -> tuple[list[Incident], list[Fault], list[Anomaly]]:
    """The plan's incidents, faults and anomalies on the simulated `devices` (named, so nothing is drawn twice).

    A device may carry several events one after another, never two at once (and never anything
    after its battery died).
    """
    place = _placer(rng, city.utc_offset_h, start_time, plan, horizon)
    district_busy: dict[tuple[str, str], list[tuple[float, float]]] = {}
    device_busy: dict[str, list[tuple[float, float]]] = {}
    by_kind: dict[str, list[SimDevice]] = {}
    for device in devices:
        by_kind.setdefault(device.kind, []).append(device)
    slugs = sorted({d.district for d in devices})

    def on_device(
        kind: str, kinds: tuple[str, ...], *, weekday_only: bool = False
    ) -> tuple[SimDevice, int, int] | None:
        pool = [d for k in kinds for d in by_kind.get(k, [])]
        for _ in range(20):
            if not pool:
                return None
            chosen = rng.choice(pool)
            slot = place(kind, device_busy.setdefault(chosen.device_id, []), weekday_only=weekday_only,
                         after_s=_DEVICE_AFTER_S)  # fmt: skip
            if slot is not None:
                return chosen, slot[0], slot[1]
        return None

    incidents: list[Incident] = []
    for kind in INCIDENT_KINDS:
        for _ in range(plan.per_kind):
            if kind in ("bin_overflow", "streetlight_failure"):
                found = on_device(kind, ("bin",) if kind == "bin_overflow" else ("streetlight",))
                if found is not None:
                    lit, start, duration = found
                    incidents.append(Incident(kind=kind, district=lit.district, start_s=start, duration_s=duration,
                                              devices=[lit.device_id]))  # fmt: skip
                continue
            for _ in range(20):
                district = rng.choice(slugs)
                slot = place(kind, district_busy.setdefault((district, kind), []))
                if slot is not None:
                    break
            if slot is None:
                continue
            low, high = {"flood": (2.75, 3.6), "pollution": (75.0, 220.0), "noise_complaint": (81.0, 94.0)}[kind]
            peak = rng.uniform(low, high)
            cause = rng.choice(("open_burning", "traffic_jam", "industrial")) if kind == "pollution" else None
            incidents.append(Incident(kind=kind, district=district, start_s=slot[0], duration_s=slot[1],
                                      peak=round(peak, 2), cause=cause))  # fmt: skip
    faults: list[Fault] = []
    for kind in FAULT_KINDS:
        for _ in range(plan.per_kind):
            found = on_device(kind, _FAULT_DEVICES[kind])
            if found is None:
                continue
            faulty, start, duration = found
            magnitude = rng.choice((-1, 1)) * round(rng.uniform(300, 3600)) if kind == "clock_skew" else None
            length = None if kind == "battery_death" else duration
            faults.append(Fault(kind=kind, start_s=start, duration_s=length, device=faulty.device_id,
                                magnitude=magnitude))  # fmt: skip
    anomalies: list[Anomaly] = []
    for kind in ANOMALY_KINDS:
        for _ in range(plan.per_kind):
            found = on_device(kind, (ANOMALY_TARGETS[kind][0],), weekday_only=kind == "traffic_collapse")
            if found is not None:
                odd, start, duration = found
                anomalies.append(Anomaly(kind=kind, start_s=start, duration_s=duration, device=odd.device_id))
    return incidents, faults, anomalies

"""A scenario's `plan:`: a fixed number of every incident, fault and anomaly kind, placed from the seed.

The evaluation sets need many cases of every kind in a few days of simulated city, at the hours
they happen in a real city (floods after afternoon rain, parties at night, a blocked road in a
weekday morning rush, loud noise at 3 am) and without two of a kind on top of each other in one
district, which would make one incident of two.
"""

from __future__ import annotations

import random
from collections.abc import Callable

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
# Local hours an incident or anomaly may start at, and its duration in hours.
_WHEN: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "flood": ((13, 19), (3, 6)),
    "pollution": ((8, 18), (2, 5)),
    "bin_overflow": ((7, 16), (6, 16)),
    "streetlight_failure": ((18.5, 22), (8, 24)),
    "noise_complaint": ((21, 23.5), (1, 3)),
    "traffic_collapse": ((6.5, 7.5), (1, 2.5)),
    "night_noise": ((2, 3.5), (0.5, 1.5)),
    "lamp_overdraw": ((18.5, 21), (8, 30)),
    "gauge_oscillation": ((0, 24), (2, 8)),
    "pattern_change": ((0, 24), (24, 48)),
}
# Time a district keeps after an incident before the next of its kind (the water must recede).
_AFTER_S = {"flood": 8 * 3600.0, "pollution": 3 * 3600.0, "noise_complaint": 2 * 3600.0}


def _local(start_time: float, t: float, utc_offset_h: float) -> tuple[float, int]:
    """Local hour and weekday (0 = Monday) of `t` seconds after the start."""
    local = (start_time + t) / 3600.0 + utc_offset_h
    return local % 24, int((local // 24 + 3) % 7)


_Place = Callable[..., tuple[int, int] | None]


def _placer(rng: random.Random, city: City, start_time: float, plan: Plan, horizon: float) -> _Place:
    def place(kind: str, busy: list[tuple[float, float]], *, weekday_only: bool = False) -> tuple[int, int] | None:
        (h0, h1), (d0, d1) = _WHEN[kind]
        for _ in range(200):
            duration = rng.uniform(d0, d1) * 3600
            day = rng.randrange(int(plan.from_s // _DAY_S), max(int(plan.from_s // _DAY_S) + 1, int(horizon // _DAY_S)))
            hour = rng.uniform(h0, h1)
            first_hour, _ = _local(start_time, day * _DAY_S, city.utc_offset_h)
            start = day * _DAY_S + ((hour - first_hour) % 24) * 3600
            if start < plan.from_s or start + duration > horizon - 1800:
                continue
            if weekday_only and _local(start_time, start, city.utc_offset_h)[1] >= 5:
                continue
            end = start + duration + _AFTER_S.get(kind, 0.0)
            if any(start < b and a < end for a, b in busy):
                continue
            busy.append((start, end))
            return round(start), round(duration)
        return None

    return place


def planned_events(
    rng: random.Random, city: City, plan: Plan, start_time: float, horizon: float
) -> tuple[list[Incident], list[Fault], list[Anomaly]]:
    """The plan's incidents, faults and anomalies (devices named, so nothing is drawn twice)."""
    place = _placer(rng, city, start_time, plan, horizon)
    incidents: list[Incident] = []
    district_busy: dict[tuple[str, str], list[tuple[float, float]]] = {}
    device_busy: dict[str, list[tuple[float, float]]] = {}
    taken: set[str] = set()
    by_kind: dict[str, list[SimDevice]] = {}
    for device in city.devices:
        by_kind.setdefault(device.kind, []).append(device)

    def free_device(kinds: tuple[str, ...]) -> SimDevice | None:
        pool = [d for k in kinds for d in by_kind.get(k, []) if d.device_id not in taken]
        return rng.choice(pool) if pool else None

    for kind in INCIDENT_KINDS:
        for _ in range(plan.per_kind):
            if kind in ("bin_overflow", "streetlight_failure"):
                lit = free_device(("bin",) if kind == "bin_overflow" else ("streetlight",))
                if lit is None:
                    break
                slot = place(kind, device_busy.setdefault(lit.device_id, []))
                if slot is None:
                    continue
                taken.add(lit.device_id)
                incidents.append(Incident(kind=kind, district=lit.district, start_s=slot[0], duration_s=slot[1],
                                          devices=[lit.device_id]))  # fmt: skip
                continue
            district = rng.choice(city.slugs)
            slot = place(kind, district_busy.setdefault((district, kind), []))
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
            faulty = free_device(_FAULT_DEVICES[kind])
            if faulty is None:
                break
            taken.add(faulty.device_id)
            hours = (24, 48) if kind == "drift" else (2, 12)
            duration = min(rng.uniform(*hours) * 3600, horizon - plan.from_s - 3600)
            start = rng.uniform(plan.from_s, horizon - duration - 1800)
            magnitude = rng.choice((-1, 1)) * round(rng.uniform(300, 3600)) if kind == "clock_skew" else None
            length = None if kind == "battery_death" else round(duration)
            faults.append(Fault(kind=kind, start_s=round(start), duration_s=length, device=faulty.device_id,
                                magnitude=magnitude))  # fmt: skip
    anomalies: list[Anomaly] = []
    for kind in ANOMALY_KINDS:
        for _ in range(plan.per_kind):
            odd = free_device((ANOMALY_TARGETS[kind][0],))
            if odd is None:
                break
            slot = place(kind, device_busy.setdefault(odd.device_id, []), weekday_only=kind == "traffic_collapse")
            if slot is None:
                continue
            taken.add(odd.device_id)
            anomalies.append(Anomaly(kind=kind, start_s=slot[0], duration_s=slot[1], device=odd.device_id))
    return incidents, faults, anomalies

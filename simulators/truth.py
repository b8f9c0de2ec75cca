"""Ground truth: what a run injected, resolved to devices and times, written as JSON lines.

Each line of the truth file is one incident or device fault, with these fields:

- ``id``: ``inc-001``, ``flt-001``... unique in the run;
- ``category``: ``incident`` (something in the city that deserves a ticket) or ``fault`` (a device misbehaving);
- ``kind``: flood, pollution, bin_overflow, streetlight_failure, noise_complaint (incidents);
  stuck, drift, spikes, silence, battery_death, clock_skew (faults);
- ``district``: the district slug;
- ``devices``: ids of the simulated devices that show it; ``quantities``: the wire quantities it moves;
- ``start_ms`` / ``end_ms``: epoch milliseconds on the readings' clock (``end_ms`` is the end of the run
  for a fault that never ends, or null for an open-ended live run); ``start`` / ``end``: the same in ISO 8601 UTC;
- ``expected_ticket``: the ticket service code detection should open (``flood``, ``air_quality``,
  ``waste_bin``, ``streetlight``, ``noise``, ``device_fault``);
- ``level``: the level the quantity is driven to (incidents) or the fault's magnitude (faults), ``cause``
  (pollution: open_burning, traffic_jam, industrial), ``source`` (``scenario`` or ``random``), ``scenario``, ``seed``.

For a flood, ``start_ms`` is when the heavy rain begins; the water crosses the flood level later.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from simulators.city import City, SimDevice
from simulators.scenario import FAULT_KINDS, INCIDENT_KINDS, Fault, Incident, Scenario

__all__ = ["EXPECTED_TICKETS", "Event", "TruthRecord", "resolve", "write_truth"]

EXPECTED_TICKETS: dict[str, str] = {
    "flood": "flood",
    "pollution": "air_quality",
    "bin_overflow": "waste_bin",
    "streetlight_failure": "streetlight",
    "noise_complaint": "noise",
}
FAULT_TICKET = "device_fault"

# Default fault magnitudes: drift per day in the quantity's unit, clock skew in seconds, spike rate.
DRIFT_PER_DAY: dict[str, float] = {
    "pm25": 25.0, "pm10": 40.0, "temperature": 3.0, "humidity": 12.0, "noise": 8.0, "water_level": 0.6,
    "rainfall": 0.4, "bin_fill": 30.0, "traffic_count": 60.0, "power": 40.0,
}  # fmt: skip
_SINGLE_DEVICE = ("bin_overflow", "streetlight_failure")
_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Event:
    """An incident or fault resolved to devices and seconds after the start (what the signals use)."""

    id: str
    category: str
    kind: str
    district: str
    devices: tuple[str, ...]
    start_s: float
    end_s: float | None
    incident: Incident | None = None
    fault: Fault | None = None
    source: str = "scenario"

    def active(self, elapsed_s: float) -> bool:
        return elapsed_s >= self.start_s and (self.end_s is None or elapsed_s <= self.end_s)


@dataclass(frozen=True, slots=True)
class TruthRecord:
    id: str
    category: str
    kind: str
    district: str
    devices: list[str]
    quantities: list[str]
    start_ms: int
    end_ms: int | None
    start: str
    end: str | None
    expected_ticket: str
    level: float | None
    cause: str | None
    source: str
    scenario: str
    seed: int


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _local_hour(start_time: float, elapsed_s: float, utc_offset_h: float) -> float:
    return ((start_time + elapsed_s) / 3600 + utc_offset_h) % 24


def _random_incident(rng: random.Random, city: City, start_time: float, horizon_s: float) -> Incident:
    kind = rng.choices(INCIDENT_KINDS, weights=(2, 3, 3, 2, 2))[0]
    district = rng.choice(city.slugs)
    hours = {
        "flood": (3, 8), "pollution": (2, 6), "bin_overflow": (6, 20), "streetlight_failure": (8, 30),
        "noise_complaint": (1, 3),
    }[kind]  # fmt: skip
    duration = min(rng.uniform(*hours) * 3600, horizon_s * 0.8)
    start = rng.uniform(0, max(horizon_s - duration, 0))
    if kind in ("noise_complaint", "streetlight_failure"):
        # Parties and dark streets are night-time problems: move the start to 21:00-24:00 local.
        want = rng.uniform(21, 24)
        shift = (want - _local_hour(start_time, start, city.utc_offset_h)) % 24 * 3600
        if start + shift + duration <= horizon_s:
            start += shift
    cause = rng.choice(("open_burning", "traffic_jam", "industrial")) if kind == "pollution" else None
    peak = {"flood": rng.uniform(2.9, 3.8), "pollution": rng.uniform(90, 250), "noise_complaint": rng.uniform(80, 95)}
    return Incident(
        kind=kind,
        district=district,
        start_s=round(start),
        duration_s=round(duration),
        peak=round(peak[kind], 2) if kind in peak else None,
        cause=cause,
    )


def _random_fault(rng: random.Random, device: SimDevice, horizon_s: float) -> Fault:
    kind = rng.choice(FAULT_KINDS)
    duration = min(rng.uniform(1, 12) * 3600, horizon_s * 0.6)
    start = rng.uniform(0, max(horizon_s - duration, 0))
    magnitude = None
    if kind == "clock_skew":
        magnitude = rng.choice((-1, 1)) * round(rng.uniform(120, 3600))
    return Fault(
        kind=kind,
        start_s=round(start),
        duration_s=None if kind == "battery_death" else round(duration),
        device=device.device_id,
        magnitude=magnitude,
    )


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the small means here; large ones use a rounded normal.
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def resolve(
    scenario: Scenario,
    city: City,
    devices: Sequence[SimDevice],
    *,
    seed: int,
    start_time: float,
    horizon_s: float | None,
) -> list[Event]:
    """The scenario's incidents and faults (and random ones from the seed) on the simulated devices.

    Device draws are made over the whole city, then limited to `devices`, so simulating a subset
    never changes which devices an incident picks.
    """
    rng = random.Random(f"{seed}:scenario")
    incidents = list(scenario.incidents)
    faults = list(scenario.faults)
    horizon = horizon_s if horizon_s is not None else _DAY_S
    if scenario.random is not None:
        days = horizon / _DAY_S
        for _ in range(_poisson(rng, scenario.random.incidents_per_day * days)):
            incidents.append(_random_incident(rng, city, start_time, horizon))
    simulated = {d.device_id for d in devices}
    by_id = {d.device_id: d for d in city.devices}
    events: list[Event] = []
    for n, incident in enumerate(incidents, 1):
        city.district(incident.district)  # a clear error for an unknown district
        candidates = [
            d.device_id for d in city.devices if d.district == incident.district and d.kind == incident.target_kind
        ]
        if incident.devices is not None:
            unknown = [d for d in incident.devices if d not in by_id]
            if unknown:
                raise ValueError(f"incident {n} names unknown devices: {', '.join(unknown)}")
            chosen = list(incident.devices)
        elif incident.kind in _SINGLE_DEVICE and candidates:
            chosen = [rng.choice(candidates)]
        else:
            chosen = candidates
        source = "scenario" if n <= len(scenario.incidents) else "random"
        events.append(
            Event(
                id=f"inc-{n:03d}",
                category="incident",
                kind=incident.kind,
                district=incident.district,
                devices=tuple(d for d in chosen if d in simulated),
                start_s=incident.start_s,
                end_s=incident.start_s + incident.duration_s,
                incident=incident,
                source=source,
            )
        )
    busy = {d for e in events for d in e.devices}
    declared = len(faults)
    if scenario.random is not None:
        pool = [d for d in city.devices if d.device_id not in busy]
        for _ in range(_poisson(rng, scenario.random.faults_per_day * horizon / _DAY_S)):
            if pool:
                device = pool.pop(rng.randrange(len(pool)))
                faults.append(_random_fault(rng, device, horizon))
    for n, fault in enumerate(faults, 1):
        device_id = fault.device
        if device_id is None:
            candidates = [
                d.device_id
                for d in city.devices
                if (fault.district is None or d.district == fault.district)
                and (fault.device_kind is None or d.kind == fault.device_kind)
                and d.device_id not in busy
            ]
            if not candidates:
                raise ValueError(f"fault {n}: no device matches district={fault.district} kind={fault.device_kind}")
            device_id = rng.choice(candidates)
        if device_id not in by_id:
            raise ValueError(f"fault {n} names unknown device {device_id!r}")
        busy.add(device_id)
        end = None if fault.duration_s is None else fault.start_s + fault.duration_s
        events.append(
            Event(
                id=f"flt-{n:03d}",
                category="fault",
                kind=fault.kind,
                district=by_id[device_id].district,
                devices=(device_id,) if device_id in simulated else (),
                start_s=fault.start_s,
                end_s=end,
                fault=fault,
                source="scenario" if n <= declared else "random",
            )
        )
    return events


def truth_records(
    events: Sequence[Event],
    city: City,
    *,
    scenario: str,
    seed: int,
    start_time: float,
    horizon_s: float | None,
) -> list[TruthRecord]:
    """What the truth file holds: events that start within the run, on devices that were simulated."""
    by_id = {d.device_id: d for d in city.devices}
    start_ms = round(start_time * 1000)
    records: list[TruthRecord] = []
    for event in events:
        if not event.devices or (horizon_s is not None and event.start_s >= horizon_s):
            continue
        end_s = event.end_s if event.end_s is not None else horizon_s
        if end_s is not None and horizon_s is not None:
            end_s = min(end_s, horizon_s)
        begin = start_ms + round(event.start_s * 1000)
        end = None if end_s is None else start_ms + round(end_s * 1000)
        quantities = sorted({q for d in event.devices for q in by_id[d].quantities})
        if event.incident is not None:
            quantities = [event.incident.quantity]
            level: float | None = event.incident.level
            cause = event.incident.cause
        else:
            assert event.fault is not None
            level, cause = event.fault.magnitude, None
        records.append(
            TruthRecord(
                id=event.id,
                category=event.category,
                kind=event.kind,
                district=event.district,
                devices=list(event.devices),
                quantities=quantities,
                start_ms=begin,
                end_ms=end,
                start=_iso(begin),
                end=None if end is None else _iso(end),
                expected_ticket=EXPECTED_TICKETS.get(event.kind, FAULT_TICKET),
                level=level,
                cause=cause,
                source=event.source,
                scenario=scenario,
                seed=seed,
            )
        )
    return records


def write_truth(path: Path, records: Sequence[TruthRecord]) -> None:
    """One JSON object per line, in a stable key order, so equal runs give equal files byte for byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(asdict(r)) for r in records]
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The truth file back as dictionaries (for scoring tools and tests)."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

"""Ground truth: what a run injected, resolved to devices and times, written as JSON lines.

Each line of the truth file is one incident, device fault or anomaly, with these fields:

- ``id``: ``inc-001``, ``flt-001``, ``anm-001``... unique in the run;
- ``category``: ``incident`` (something in the city that deserves a ticket), ``fault`` (a device
  misbehaving) or ``anomaly`` (something unusual below every rule's limit);
- ``kind``: flood, pollution, bin_overflow, streetlight_failure, noise_complaint (incidents);
  stuck, drift, spikes, silence, battery_death, clock_skew (faults); traffic_collapse, night_noise,
  lamp_overdraw, gauge_oscillation, pattern_change (anomalies);
- ``district``: the district slug;
- ``devices``: ids of the simulated devices that show it; ``quantities``: the wire quantities it moves;
- ``start_ms`` / ``end_ms``: epoch milliseconds on the readings' clock (``end_ms`` is the end of the run
  for a fault that never ends, or null for an open-ended live run); ``start`` / ``end``: the same in ISO 8601 UTC;
- ``expected_ticket``: the ticket service code detection should open (``flood``, ``air_quality``,
  ``waste_bin``, ``streetlight``, ``noise``, ``device_fault``, ``anomaly``);
- ``level``: the true peak (incidents) or the fault's or anomaly's magnitude, ``cause`` (pollution:
  open_burning, traffic_jam, industrial; ``natural`` for an incident nothing was injected for),
  ``source`` (``scenario``, ``random``, ``plan`` or ``natural``), ``scenario``, ``seed``;
- ``planned``: for an incident, the id of the injected event that caused it (null when natural);
- ``effect``: for an anomaly, the largest change it made to the true value while the run lasted, in
  the quantity's unit, before the sensor's own noise (null for incidents and faults). An anomaly
  can change little or nothing: a night-time source over a window with no night in the run, or
  one added where the air is already at the level it is capped at. Detection is still scored on
  every record; this says which misses had anything to find.

Incidents are not what a scenario injected but what the world did (`simulators.episodes`): a
true quantity over a rule's limit for the rule's confirm time, from the first such true value
(``start_ms``: for a flood, when the true level crossed the flood level) until it cleared.
Faults and anomalies are what was injected, from its start to its end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from simulators.city import City, SimDevice
from simulators.episodes import Episode
from simulators.scenario import ANOMALY_KINDS, FAULT_KINDS, INCIDENT_KINDS, Anomaly, Fault, Incident, Scenario

__all__ = ["EXPECTED_TICKETS", "Event", "TruthRecord", "resolve", "write_truth"]

EXPECTED_TICKETS: dict[str, str] = {
    "flood": "flood",
    "pollution": "air_quality",
    "bin_overflow": "waste_bin",
    "streetlight_failure": "streetlight",
    "noise_complaint": "noise",
} | dict.fromkeys(ANOMALY_KINDS, "anomaly")
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
    anomaly: Anomaly | None = None

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
    planned: str | None = None
    effect: float | None = None


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
    """The scenario's incidents, faults and anomalies (and random or planned ones from the seed).

    Device draws are made over the whole city, then limited to `devices`, so simulating a subset
    never changes which devices an incident picks.
    """
    from simulators.plan import planned_events

    rng = random.Random(f"{seed}:scenario")
    incidents = [(i, "scenario") for i in scenario.incidents]
    faults = [(f, "scenario") for f in scenario.faults]
    anomalies = [(a, "scenario") for a in scenario.anomalies]
    horizon = horizon_s if horizon_s is not None else _DAY_S
    if scenario.random is not None:
        days = horizon / _DAY_S
        for _ in range(_poisson(rng, scenario.random.incidents_per_day * days)):
            incidents.append((_random_incident(rng, city, start_time, horizon), "random"))
    if scenario.plan is not None:
        plan_rng = random.Random(f"{seed}:plan")
        planned = planned_events(plan_rng, city, devices, scenario.plan, start_time, horizon)
        more_incidents, more_faults, more_anomalies = planned
        incidents += [(i, "plan") for i in more_incidents]
        faults += [(f, "plan") for f in more_faults]
        anomalies += [(a, "plan") for a in more_anomalies]
    simulated = {d.device_id for d in devices}
    by_id = {d.device_id: d for d in city.devices}
    events: list[Event] = []
    for n, (incident, source) in enumerate(incidents, 1):
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
        events.append(
            Event(
                id=f"cause-{n:03d}",
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
    busy = {d for e in events for d in e.devices if e.kind in _SINGLE_DEVICE and e.source != "plan"}
    if scenario.random is not None:
        pool = [d for d in city.devices if d.device_id not in busy]
        for _ in range(_poisson(rng, scenario.random.faults_per_day * horizon / _DAY_S)):
            if pool:
                device = pool.pop(rng.randrange(len(pool)))
                faults.append((_random_fault(rng, device, horizon), "random"))
    for n, (fault, source) in enumerate(faults, 1):
        device_id = _device_for(rng, city, busy, fault.device, fault.district, fault.device_kind, f"fault {n}")
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
                source=source,
            )
        )
    for n, (anomaly, source) in enumerate(anomalies, 1):
        device_id = _device_for(rng, city, busy, anomaly.device, anomaly.district, anomaly.target_kind, f"anomaly {n}")
        events.append(
            Event(
                id=f"anm-{n:03d}",
                category="anomaly",
                kind=anomaly.kind,
                district=by_id[device_id].district,
                devices=(device_id,) if device_id in simulated else (),
                start_s=anomaly.start_s,
                end_s=anomaly.start_s + anomaly.duration_s,
                anomaly=anomaly,
                source=source,
            )
        )
    return events


def _device_for(
    rng: random.Random, city: City, busy: set[str], device_id: str | None, district: str | None, kind: str | None,
    what: str,
) -> str:  # fmt: skip
    """The named device, or one drawn among the matching devices nothing else happens to."""
    if device_id is None:
        candidates = [
            d.device_id
            for d in city.devices
            if (district is None or d.district == district) and (kind is None or d.kind == kind)
            and d.device_id not in busy
        ]  # fmt: skip
        if not candidates:
            raise ValueError(f"{what}: no device matches district={district} kind={kind}")
        device_id = rng.choice(candidates)
    if device_id not in {d.device_id for d in city.devices}:
        raise ValueError(f"{what} names unknown device {device_id!r}")
    busy.add(device_id)
    return device_id


def truth_records(
    events: Sequence[Event],
    episodes: Sequence[Episode],
    city: City,
    *,
    scenario: str,
    seed: int,
    start_time: float,
    horizon_s: float | None,
    effects: Mapping[str, float] | None = None,
) -> list[TruthRecord]:
    """What the truth file holds: the world's incidents, then the injected faults and anomalies.

    Incidents come from `episodes` (true values over a rule's limit); each names the injected
    event of its kind and place that overlaps it as its cause, or is `natural`.
    """
    by_id = {d.device_id: d for d in city.devices}
    start_ms = round(start_time * 1000)

    def ms(elapsed: float | None) -> int | None:
        if elapsed is None:
            return None
        if horizon_s is not None:
            elapsed = min(elapsed, horizon_s)
        return start_ms + round(elapsed * 1000)

    records: list[TruthRecord] = []
    causes = [e for e in events if e.incident is not None]
    for n, episode in enumerate(sorted(episodes, key=lambda e: (e.start_s, e.district, e.kind)), 1):
        begin = ms(episode.start_s - start_time)
        end = ms(None if episode.end_s is None else episode.end_s - start_time)
        if end is None and horizon_s is not None:
            end = ms(horizon_s)
        assert begin is not None
        cause = next(
            (
                e
                for e in causes
                if e.kind == episode.kind
                and e.district == episode.district
                and (e.kind not in _SINGLE_DEVICE or set(e.devices) & set(episode.devices))
                and e.start_s + start_time - 1800 <= (episode.end_s if episode.end_s is not None else math.inf)
                and episode.start_s <= (e.end_s if e.end_s is not None else math.inf) + start_time + 6 * 3600
            ),
            None,
        )
        records.append(
            TruthRecord(
                id=f"inc-{n:03d}",
                category="incident",
                kind=episode.kind,
                district=episode.district,
                devices=sorted(episode.devices),
                quantities=[episode.quantity],
                start_ms=begin,
                end_ms=end,
                start=_iso(begin),
                end=None if end is None else _iso(end),
                expected_ticket=EXPECTED_TICKETS[episode.kind],
                level=round(episode.peak, 3),
                cause=(cause.incident.cause if cause is not None and cause.incident is not None else None)
                or ("injected" if cause is not None else "natural"),
                source=cause.source if cause is not None else "natural",
                scenario=scenario,
                seed=seed,
                planned=cause.id if cause is not None else None,
            )
        )
    for event in events:
        if event.incident is not None or not event.devices:
            continue
        if horizon_s is not None and event.start_s >= horizon_s:
            continue
        end_s = event.end_s if event.end_s is not None else horizon_s
        begin = ms(event.start_s)
        end = ms(end_s)
        assert begin is not None
        quantities = sorted({q for d in event.devices for q in by_id[d].quantities})
        effect = None
        if event.anomaly is not None:
            quantities = [event.anomaly.quantity]
            level = event.anomaly.magnitude
            effect = round((effects or {}).get(event.id, 0.0), 3)
        else:
            assert event.fault is not None
            level = event.fault.magnitude
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
                cause=None,
                source=event.source,
                scenario=scenario,
                seed=seed,
                effect=effect,
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

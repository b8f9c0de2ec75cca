"""Detection quality against the simulator's ground truth: `citysense evaluate`.

A run simulates a scenario on the accelerated clock (as fast as the work allows) and feeds every
reading, in the order the fleet produces it, through the same engine and ticket policy that
`citysense analytics` runs (into a throw-away tickets database). The tickets are then matched to
the truth file's incidents and faults:

- a ticket matches a truth record when its service code is the one the record expects and it is
  about the same place (the district for district incidents, one of the record's devices for
  device incidents and faults), opened between `early_s` before the record starts and `late_s`
  after it ends;
- per type, recall is the share of records with a matching ticket; precision is the share of the
  type's tickets that match a record (false tickets are attributed to a type by service code, and
  device-fault tickets by the detector that opened them);
- time to ticket runs from the record's start to its first matching ticket; for floods, the lead
  time runs from the forecast ticket to the first reading over the flood level in the district.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.tickets import TicketPolicy
from citysense.db import Ticket, connect
from citysense.settings import AnalyticsSettings, SimulateSettings
from citysense.wire import Reading

__all__ = ["Run", "RunReport", "TypeScore", "evaluate_run", "load_runs"]

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
# The simulator's truth names one service code differently from the service catalogue.
_TICKET_ALIASES = {"waste_bin": "waste"}
_INCIDENT_OF_SERVICE = {
    "flood": "flood",
    "air_quality": "pollution",
    "waste": "bin_overflow",
    "streetlight": "streetlight_failure",
    "noise": "noise_complaint",
}
_FAULT_OF_DETECTOR = {
    "stuck": "stuck",
    "neighbour_drift": "drift",
    "dry_weather_shift": "drift",
    "implausible_jump": "spikes",
    "silence": "silence",
    "clock_skew": "clock_skew",
}
_DISTRICT_SCOPED = {"flood", "air_quality", "noise"}


class Run(BaseModel):
    """One evaluation run: a simulator scenario and how long, how big and from when to simulate it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    scenario: str  # a simulator scenario name or a YAML file (relative to the manifest)
    days: float = Field(default=3.0, gt=0, le=30)
    devices: int | None = Field(default=None, ge=1)
    seed: int = 42
    start: str = "2026-01-05T00:00:00+07:00"  # a Monday, local midnight
    early_s: float = Field(default=600.0, ge=0)
    late_s: float = Field(default=3600.0, ge=0)


def load_runs(name: str) -> list[Run]:
    """`standard` (every shipped run), one shipped run by name, or a simulator scenario name / YAML file."""
    manifest = SCENARIOS_DIR / "standard.yaml"
    data = yaml.safe_load(manifest.read_text())
    runs = []
    for item in data["runs"]:
        run = Run.model_validate(item)
        path = SCENARIOS_DIR / run.scenario
        if path.suffix and path.is_file():
            run = run.model_copy(update={"scenario": str(path)})
        runs.append(run)
    if name == "standard":
        return runs
    for run in runs:
        if run.name == name:
            return [run]
    return [Run(name=Path(name).stem, scenario=name)]


@dataclass
class TypeScore:
    """Quality for one incident or fault type."""

    category: str
    records: int = 0
    detected: int = 0
    tickets: int = 0
    true_tickets: int = 0
    delays_s: list[float] = field(default_factory=list)
    leads_s: list[float] = field(default_factory=list)
    forecast_first: int = 0
    crossed: int = 0

    @property
    def precision(self) -> float:
        return self.true_tickets / self.tickets if self.tickets else (1.0 if not self.records else 0.0)

    @property
    def recall(self) -> float:
        return self.detected / self.records if self.records else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        def quantile(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)

        return {
            "category": self.category,
            "records": self.records,
            "detected": self.detected,
            "tickets": self.tickets,
            "false_tickets": self.tickets - self.true_tickets,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "median_time_to_ticket_s": round(statistics.median(self.delays_s), 1) if self.delays_s else None,
            "p95_time_to_ticket_s": quantile(self.delays_s, 0.95),
            "median_lead_time_s": round(statistics.median(self.leads_s), 1) if self.leads_s else None,
            "ticketed_before_threshold": (round(self.forecast_first / self.crossed, 4) if self.crossed else None),
        }


@dataclass
class RunReport:
    run: Run
    devices: int
    readings: int
    simulated_days: float
    wall_s: float
    types: dict[str, TypeScore]
    false_tickets: int
    tickets: int
    false_list: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def false_per_100_device_days(self) -> float:
        return 100 * self.false_tickets / (self.devices * self.simulated_days)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.run.name,
            "devices": self.devices,
            "days": round(self.simulated_days, 2),
            "readings": self.readings,
            "wall_s": round(self.wall_s, 1),
            "readings_per_s": round(self.readings / self.wall_s) if self.wall_s else None,
            "tickets": self.tickets,
            "false_tickets": self.false_tickets,
            "false_tickets_per_100_device_days": round(self.false_per_100_device_days, 3),
            "types": {name: score.as_dict() for name, score in sorted(self.types.items())},
            "false": self.false_list,
            "missed": [
                {k: r[k] for k in ("id", "kind", "district", "devices", "start", "end", "level")} for r in self.missed
            ],
        }


class _EvalSink:
    """The simulator's sink that is analytics: every reading straight into the engine and the policy."""

    def __init__(self, engine: Engine, policy: TicketPolicy, flood_level: float) -> None:
        self.engine, self.policy = engine, policy
        self.flood_level = flood_level
        self.readings = 0
        self._recent: deque[int] = deque(maxlen=5)
        self._last_tick_ms = 0
        # First time each district's water crossed the flood level (for lead times), by crossing episode.
        self.crossings: dict[str, list[int]] = {}

    def open(self, devices: Sequence[object]) -> None:
        return None

    def send(self, device: Any, readings: list[Reading]) -> None:
        if not readings:
            return
        self._recent.append(readings[0].time_ms)
        received_ms = sorted(self._recent)[len(self._recent) // 2]  # the fleet's clock; a skewed device is 1 of 5
        for reading in readings:
            self.readings += 1
            if reading.quantity == "water_level" and reading.value >= self.flood_level:
                self.crossings.setdefault(device.district, []).append(reading.time_ms)
            for finding in self.engine.process(reading, received_ms=received_ms):
                self.policy.observe(finding)
        if received_ms - self._last_tick_ms >= 60_000:
            self.tick(received_ms)

    def tick(self, now_ms: int) -> None:
        self._last_tick_ms = now_ms
        for finding in self.engine.tick(now_ms):
            self.policy.observe(finding)
        self.policy.resolve_quiet(datetime.fromtimestamp(now_ms / 1000, UTC))

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Ticket:
    id: int
    service_code: str
    district: str
    devices: tuple[str, ...]
    opened_ms: int
    forecast: bool
    detector: str


def _tickets(sessions: Any) -> list[_Ticket]:
    found = []
    with sessions() as session:
        for t in session.scalars(select(Ticket).options(selectinload(Ticket.events)).order_by(Ticket.id)):
            first = t.events[0] if t.events else None
            found.append(
                _Ticket(
                    t.id, t.service_code, t.district, tuple(t.devices), round(t.opened_at.timestamp() * 1000),
                    first is not None and first.kind == "forecast",
                    str(first.data.get("detector", "")) if first is not None else "",
                )
            )  # fmt: skip
    return found


def _matches(ticket: _Ticket, record: dict[str, Any], run: Run) -> bool:
    expected = _TICKET_ALIASES.get(record["expected_ticket"], record["expected_ticket"])
    if ticket.service_code != expected:
        return False
    end_ms = record["end_ms"] if record["end_ms"] is not None else math.inf
    if not record["start_ms"] - run.early_s * 1000 <= ticket.opened_ms <= end_ms + run.late_s * 1000:
        return False
    if expected in _DISTRICT_SCOPED:
        return bool(ticket.district == record["district"])
    return bool(set(ticket.devices) & set(record["devices"]))


def _type_of_false(ticket: _Ticket) -> str:
    if ticket.service_code == "device_fault":
        return _FAULT_OF_DETECTOR.get(ticket.detector, "silence")
    return _INCIDENT_OF_SERVICE.get(ticket.service_code, ticket.service_code)


def score(
    run: Run, truth: list[dict[str, Any]], tickets: list[_Ticket], crossings: dict[str, list[int]]
) -> tuple[dict[str, TypeScore], int]:
    """Per-type scores and the number of false tickets."""
    from simulators.scenario import FAULT_KINDS, INCIDENT_KINDS

    types = {k: TypeScore("incident") for k in INCIDENT_KINDS} | {k: TypeScore("fault") for k in FAULT_KINDS}
    matched: dict[int, str] = {}
    for record in truth:
        kind = types[record["kind"]]
        kind.records += 1
        hits = [t for t in tickets if _matches(t, record, run)]
        for t in hits:
            matched.setdefault(t.id, record["kind"])
        if not hits:
            continue
        kind.detected += 1
        first = min(hits, key=lambda t: t.opened_ms)
        kind.delays_s.append((first.opened_ms - record["start_ms"]) / 1000)
        if record["kind"] == "flood":
            end_ms = record["end_ms"] or math.inf
            crossed = [c for c in crossings.get(record["district"], []) if record["start_ms"] <= c <= end_ms]
            if crossed:
                kind.crossed += 1
                kind.leads_s.append((crossed[0] - first.opened_ms) / 1000)
                kind.forecast_first += first.opened_ms < crossed[0]
    false = 0
    for t in tickets:
        kind_name = matched.get(t.id)
        if kind_name is None:
            false += 1
            kind_name = _type_of_false(t)
        else:
            types[kind_name].true_tickets += 1
        if kind_name in types:
            types[kind_name].tickets += 1
    return types, false


def evaluate_run(
    run: Run,
    settings: AnalyticsSettings | None = None,
    *,
    workdir: Path | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunReport:
    """Simulate `run`, feed analytics, score its tickets against the truth."""
    from dataclasses import asdict

    from simulators.city import load_city
    from simulators.run import RunOptions, run_simulation
    from simulators.scenario import load_scenario

    settings = settings or AnalyticsSettings()
    city = load_city(None)
    start = datetime.fromisoformat(run.start).timestamp()
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        sessions = connect(f"sqlite:///{Path(folder) / 'tickets.db'}")
        by_id = {d.device_id: d for d in city.devices}

        def meta(device_id: str) -> DeviceMeta:
            device = by_id.get(device_id)
            return DeviceMeta(device_id, device.district if device else "unknown", device.kind if device else "unknown")

        engine = Engine(EngineConfig.from_settings(settings), meta)
        policy = TicketPolicy(sessions, quiet_period_s=settings.quiet_period_s)
        sink = _EvalSink(engine, policy, settings.water_level_flood_m)
        options = RunOptions(
            city=city,
            scenario=load_scenario(run.scenario),
            seed=run.seed,
            devices=run.devices,
            speed=math.inf,
            until_s=run.days * 86_400,
            start=start,
            to="store",
            register=False,
        )
        began = time.monotonic()
        summary = run_simulation(options, SimulateSettings(), sink=sink, progress=progress)
        sink.tick(round((start + run.days * 86_400) * 1000))
        wall = time.monotonic() - began
        tickets = _tickets(sessions)
        sessions.kw["bind"].dispose()
    truth = [asdict(r) for r in summary.truth]
    types, false = score(run, truth, tickets, sink.crossings)
    matched = {t.id for r in truth for t in tickets if _matches(t, r, run)}
    false_list = [
        {
            "ticket": t.id,
            "service_code": t.service_code,
            "district": t.district,
            "devices": list(t.devices),
            "opened": datetime.fromtimestamp(t.opened_ms / 1000, UTC).isoformat(),
            "detector": t.detector,
        }
        for t in tickets
        if t.id not in matched
    ]
    missed = [r for r in truth if not any(_matches(t, r, run) for t in tickets)]
    return RunReport(
        run,
        summary.devices,
        sink.readings,
        summary.simulated_s / 86_400,
        wall,
        types,
        false,
        len(tickets),
        false_list,
        missed,
    )

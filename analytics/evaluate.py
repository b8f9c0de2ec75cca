"""Detection quality against the simulator's ground truth, scored strictly: `citysense evaluate`.

A run simulates a scenario on the accelerated clock (as fast as the work allows) and feeds every
reading, in the order the fleet produces it, through the same engine and ticket policy that
`citysense analytics` runs (into a throw-away tickets database). The tickets are then scored
against the truth (`simulators.truth`: incidents are what the *true* quantities did, faults and
anomalies what was injected). The rules, written down in docs/detection.md before the first
hold-out run:

- a ticket matches a truth record when it has the record's service code, is about the same place
  (the district for district incidents, one of the record's devices otherwise) and opened inside
  the record's window: from `EARLY_S` of its kind before the record's start (floods, air and bins
  have forecasts) to `LATE_S` after its end; a device-fault ticket matches a fault only when its
  detector is one of `FAMILIES[kind]`, and only within `FAULT_DELAY_S[kind]` of the fault's start;
- the first matching ticket of a record finds it; every further ticket for it is a duplicate, and
  an `anomaly` ticket on a device that another record covers at that time is that record's
  duplicate; duplicates count against precision;
- a record whose ticket resolved and then got another ticket is flapping; a ticket still open two
  hours after its record ended is stale;
- a ticket that matches nothing is false; it is counted against the type its service code (or,
  for device faults, its detector; for anomalies, its device's kind) stands for;
- intervals are Wilson 95 % score intervals; false tickets per 100 device-days divide by every
  simulated device's days; for floods, `before_true_crossing` is the share of found floods whose
  first ticket opened before the true level first crossed the flood level.
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
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from analytics.engine import DeviceMeta, Engine, EngineConfig
from analytics.tickets import TicketPolicy
from citysense.db import Ticket, connect
from citysense.settings import AnalyticsSettings, SimulateSettings
from citysense.wire import Reading

if TYPE_CHECKING:
    from simulators.city import City
    from simulators.run import RunOptions
    from simulators.scenario import Scenario

__all__ = [
    "FAMILIES",
    "Run",
    "RunReport",
    "TypeScore",
    "combine",
    "evaluate_run",
    "load_runs",
    "report_document",
    "score",
    "simulation_options",
    "wilson",
]

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
# The development set (tuned on), the confirmation set (a choice checked there before the hold-out
# is run), and the hold-out (run once per choice, never tuned on).
SETS = ("standard", "confirm", "holdout")
REPORTED_SETS = ("standard", "holdout")  # what `make bench-detection` measures and the docs report
_HOUR = 3600.0
# The simulator's truth names one service code differently from the service catalogue.
_TICKET_ALIASES = {"waste_bin": "waste"}
_INCIDENT_OF_SERVICE = {
    "flood": "flood",
    "air_quality": "pollution",
    "waste": "bin_overflow",
    "streetlight": "streetlight_failure",
    "noise": "noise_complaint",
}
# Truth fault kind -> the detectors (ticket `detector`) whose tickets may find it (docs/detection.md).
FAMILIES: dict[str, frozenset[str]] = {
    "stuck": frozenset({"stuck"}),
    "drift": frozenset({"neighbour_drift", "dry_weather_shift"}),
    "spikes": frozenset({"implausible_jump"}),
    "silence": frozenset({"silence"}),
    "battery_death": frozenset({"silence"}),
    "clock_skew": frozenset({"clock_skew"}),
}
_FAULT_OF_DETECTOR = {
    "stuck": "stuck",
    "neighbour_drift": "drift",
    "dry_weather_shift": "drift",
    "implausible_jump": "spikes",
    "silence": "silence",
    "clock_skew": "clock_skew",
}
_ANOMALY_OF_DEVICE_KIND = {
    "traffic": "traffic_collapse",
    "noise": "night_noise",
    "streetlight": "lamp_overdraw",
    "water": "gauge_oscillation",
    "air": "pattern_change",
}
# How long after a fault starts its own detector may take to count as finding it.
FAULT_DELAY_S = {
    "stuck": 3 * _HOUR,
    "drift": 24 * _HOUR,
    "spikes": 3 * _HOUR,
    "silence": 1 * _HOUR,
    "battery_death": 2 * _HOUR,
    "clock_skew": 1 * _HOUR,
}
# How long before an incident's true start a ticket may open (forecasts), and after its end.
EARLY_S = {"flood": 3 * _HOUR, "pollution": 1 * _HOUR, "bin_overflow": 3 * _HOUR}
DEFAULT_EARLY_S = 600.0
LATE_S = 1 * _HOUR
STALE_AFTER_S = 2 * _HOUR
_DISTRICT_SCOPED = {"flood", "air_quality", "noise"}


class Run(BaseModel):
    """One evaluation run: a simulator scenario, a city, how long and from when to simulate it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    scenario: str  # a simulator scenario name or a YAML file (relative to the manifest)
    days: float = Field(default=3.0, gt=0, le=30)
    devices: int | None = Field(default=None, ge=1)
    seed: int = 42
    start: str = "2026-01-05T00:00:00+07:00"  # a Monday, local midnight
    city: str | None = None  # a city YAML (relative to the manifest) or a shipped city name; the default city
    # Days of ordinary city before `start` that analytics learns from without reporting (its warm-up,
    # as `citysense analytics` warms up from the store and resumes saved detector state): the same
    # simulation started earlier, nothing injected, nothing scored.
    history_days: float = Field(default=0.0, ge=0, le=60)


def _resolve(value: str, folder: Path) -> str:
    path = folder / value
    return str(path) if path.suffix and path.is_file() else value


def _manifest(name: str) -> list[Run]:
    data = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text())
    runs = []
    for item in data["runs"]:
        run = Run.model_validate(item)
        city = run.city
        if city is not None:
            city = _resolve(city, SCENARIOS_DIR)
        runs.append(run.model_copy(update={"scenario": _resolve(run.scenario, SCENARIOS_DIR), "city": city}))
    return runs


def load_runs(name: str) -> list[Run]:
    """`standard`, `confirm` or `holdout` (manifests of runs), one of their runs by name, or a simulator
    scenario / YAML file."""
    if name in SETS:
        return _manifest(name)
    for manifest in SETS:
        for run in _manifest(manifest):
            if run.name == name:
                return [run]
    shipped = SCENARIOS_DIR / f"{name}.yaml"
    if not Path(name).suffix and shipped.is_file():
        return [Run(name=name, scenario=str(shipped), days=4)]
    return [Run(name=Path(name).stem, scenario=name)]


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95 % by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 1)


@dataclass
class TypeScore:
    """Quality for one incident, fault or anomaly type (counts add up over runs)."""

    category: str
    truth: int = 0
    found: int = 0
    tickets: int = 0
    false: int = 0
    duplicates: int = 0
    wrong_family: int = 0
    flapping: int = 0
    stale: int = 0
    device_days: float = 0.0
    delays_s: list[float] = field(default_factory=list)
    crossed: int = 0
    before_crossing: int = 0

    @property
    def true_tickets(self) -> int:
        return self.tickets - self.false - self.duplicates

    @property
    def precision(self) -> float | None:
        return self.true_tickets / self.tickets if self.tickets else None

    @property
    def recall(self) -> float | None:
        return self.found / self.truth if self.truth else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: TypeScore) -> None:
        for name in ("truth", "found", "tickets", "false", "duplicates", "wrong_family", "flapping", "stale",
                     "crossed", "before_crossing"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.device_days += other.device_days
        self.delays_s += other.delays_s

    def as_dict(self, name: str) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "type": name,
            "category": self.category,
            "truth": self.truth,
            "found": self.found,
            "tickets": self.tickets,
            "false": self.false,
            "duplicates": self.duplicates,
            "wrong_family": self.wrong_family,
            "flapping": self.flapping,
            "stale": self.stale,
            "precision": rounded(self.precision),
            "precision_ci95": wilson(self.true_tickets, self.tickets),
            "recall": rounded(self.recall),
            "recall_ci95": wilson(self.found, self.truth),
            "f1": rounded(self.f1),
            "median_time_to_ticket_s": round(statistics.median(self.delays_s), 1) if self.delays_s else None,
            "p95_time_to_ticket_s": _quantile(self.delays_s, 0.95),
            "false_per_100_device_days": round(100 * self.false / self.device_days, 3) if self.device_days else None,
            "before_true_crossing": (round(self.before_crossing / self.crossed, 4) if self.crossed else None),
        }


def _all_types() -> dict[str, TypeScore]:
    from simulators.scenario import ANOMALY_KINDS, FAULT_KINDS, INCIDENT_KINDS

    return (
        {k: TypeScore("incident") for k in INCIDENT_KINDS}
        | {k: TypeScore("fault") for k in FAULT_KINDS}
        | {k: TypeScore("anomaly") for k in ANOMALY_KINDS}
    )


def combine(scores: Sequence[dict[str, TypeScore]]) -> dict[str, TypeScore]:
    """Per-type totals over several runs (counts and time-to-ticket samples add up)."""
    totals = _all_types()
    for one in scores:
        for name, value in one.items():
            totals.setdefault(name, TypeScore(value.category)).add(value)
    return totals


def type_rows(types: dict[str, TypeScore]) -> list[dict[str, Any]]:
    """The `types` list of the JSON document: every type with truth records or tickets."""
    return [score.as_dict(name) for name, score in sorted(types.items()) if score.truth or score.tickets]


@dataclass
class RunReport:
    run: Run
    devices: int
    readings: int
    simulated_days: float
    wall_s: float
    types: dict[str, TypeScore]
    tickets: int
    false_list: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def device_days(self) -> float:
        return self.devices * self.simulated_days

    @property
    def false_tickets(self) -> int:
        return sum(t.false for t in self.types.values())

    @property
    def false_per_100_device_days(self) -> float:
        return 100 * self.false_tickets / self.device_days if self.device_days else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.run.name,
            "seed": self.run.seed,
            "start": self.run.start,
            "city": Path(self.run.city).stem if self.run.city else "default",
            "devices": self.devices,
            "days": round(self.simulated_days, 2),
            "history_days": self.run.history_days,
            "device_days": round(self.device_days, 1),
            "readings": self.readings,
            "wall_s": round(self.wall_s, 1),
            "readings_per_s": round(self.readings / self.wall_s) if self.wall_s else None,
            "tickets": self.tickets,
            "false_tickets": self.false_tickets,
            "false_tickets_per_100_device_days": round(self.false_per_100_device_days, 3),
            "types": type_rows(self.types),
            "false_list": self.false_list,
            "missed": self.missed,
        }


class _EvalSink:
    """The simulator's sink that is analytics: every reading straight into the engine and the policy.

    Readings before `scored_from_ms` are the run's history: the engine learns from them (its
    warm-up) and reports nothing.
    """

    def __init__(self, engine: Engine, policy: TicketPolicy, *, scored_from_ms: int = 0) -> None:
        self.engine, self.policy = engine, policy
        self.scored_from_ms = scored_from_ms
        self.readings = 0  # scored readings
        self._recent: deque[int] = deque(maxlen=5)
        self._last_tick_ms = 0

    def open(self, devices: Sequence[object]) -> None:
        return None

    def send(self, device: Any, readings: list[Reading]) -> None:
        if not readings:
            return
        if readings[0].time_ms < self.scored_from_ms:
            self.engine.warm(r for r in readings if r.time_ms < self.scored_from_ms)
            readings = [r for r in readings if r.time_ms >= self.scored_from_ms]
            if not readings:
                return
        self._recent.append(readings[0].time_ms)
        received_ms = sorted(self._recent)[len(self._recent) // 2]  # the fleet's clock; a skewed device is 1 of 5
        for reading in readings:
            self.readings += 1
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
class ScoredTicket:
    """What scoring needs of a ticket."""

    id: int
    service_code: str
    district: str
    devices: tuple[str, ...]
    opened_ms: int
    resolved_ms: int | None
    detector: str
    reopened: bool = False


def _ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return round(when.timestamp() * 1000)


def _tickets(sessions: Any) -> list[ScoredTicket]:
    found = []
    with sessions() as session:
        for t in session.scalars(select(Ticket).options(selectinload(Ticket.events)).order_by(Ticket.id)):
            first = t.events[0] if t.events else None
            opened = _ms(t.opened_at)
            assert opened is not None
            found.append(
                ScoredTicket(
                    t.id, t.service_code, t.district, tuple(t.devices), opened, _ms(t.resolved_at),
                    str(first.data.get("detector", "")) if first is not None else "",
                    any(e.kind == "reopened" for e in t.events),
                )
            )  # fmt: skip
    return found


def _window(record: dict[str, Any]) -> tuple[float, float]:
    """When a ticket may open to match `record` (epoch ms)."""
    start = record["start_ms"]
    end = record["end_ms"] if record["end_ms"] is not None else math.inf
    if record["category"] == "fault":
        return start - DEFAULT_EARLY_S * 1000, min(start + FAULT_DELAY_S[record["kind"]] * 1000, end + LATE_S * 1000)
    return start - EARLY_S.get(record["kind"], DEFAULT_EARLY_S) * 1000, end + LATE_S * 1000


def _same_place(ticket: ScoredTicket, record: dict[str, Any]) -> bool:
    if ticket.service_code in _DISTRICT_SCOPED:
        return bool(ticket.district == record["district"])
    return bool(set(ticket.devices) & set(record["devices"]))


def _matches(ticket: ScoredTicket, record: dict[str, Any]) -> bool:
    expected = _TICKET_ALIASES.get(record["expected_ticket"], record["expected_ticket"])
    if ticket.service_code != expected or not _same_place(ticket, record):
        return False
    if record["category"] == "fault" and ticket.detector not in FAMILIES[record["kind"]]:
        return False
    lo, hi = _window(record)
    return lo <= ticket.opened_ms <= hi


def _covers(ticket: ScoredTicket, record: dict[str, Any]) -> bool:
    """An anomaly ticket on a device this record is about, while it lasts: the record's duplicate."""
    if not set(ticket.devices) & set(record["devices"]):
        return False
    lo, hi = _window(record)
    return lo <= ticket.opened_ms <= hi


def _type_of_false(ticket: ScoredTicket, device_kinds: dict[str, str]) -> str:
    if ticket.service_code == "device_fault":
        return _FAULT_OF_DETECTOR.get(ticket.detector, "silence")
    if ticket.service_code == "anomaly":
        kinds = [device_kinds.get(d, "") for d in ticket.devices]
        return next((_ANOMALY_OF_DEVICE_KIND[k] for k in kinds if k in _ANOMALY_OF_DEVICE_KIND), "pattern_change")
    return _INCIDENT_OF_SERVICE.get(ticket.service_code, ticket.service_code)


def score(
    truth: list[dict[str, Any]],
    tickets: list[ScoredTicket],
    *,
    device_kinds: dict[str, str],
    device_days: float,
    end_ms: int,
) -> tuple[dict[str, TypeScore], list[ScoredTicket], list[dict[str, Any]]]:
    """Per-type scores, the false tickets and the missed records of one run."""
    types = _all_types()
    for t in types.values():
        t.device_days = device_days
    by_record: dict[str, list[ScoredTicket]] = {r["id"]: [] for r in truth}
    false: list[ScoredTicket] = []
    for ticket in sorted(tickets, key=lambda t: (t.opened_ms, t.id)):
        hits = [r for r in truth if _matches(ticket, r)]
        if not hits and ticket.service_code == "anomaly":
            hits = [r for r in truth if _covers(ticket, r)]
        if hits:
            record = min(hits, key=lambda r: abs(ticket.opened_ms - r["start_ms"]))
            by_record[record["id"]].append(ticket)
            continue
        false.append(ticket)
        scored = types.setdefault(_type_of_false(ticket, device_kinds), TypeScore("other", device_days=device_days))
        scored.tickets += 1
        scored.false += 1
        if ticket.service_code == "device_fault" and any(
            r["category"] == "fault" and set(ticket.devices) & set(r["devices"]) and _window(r)[0] <= ticket.opened_ms
            for r in truth
        ):
            scored.wrong_family += 1
    missed = []
    for record in truth:
        scored = types[record["kind"]]
        scored.truth += 1
        got = by_record[record["id"]]
        scored.tickets += len(got)
        firsts = [t for t in got if _matches(t, record)]
        if not firsts:
            scored.duplicates += len(got)
            entry = {k: record[k] for k in ("id", "kind", "district", "devices", "start", "end", "level")}
            if record.get("effect") is not None:  # an anomaly: how much it changed (was there anything to find)
                entry["effect"] = record["effect"]
            missed.append(entry)
            continue
        first = firsts[0]
        scored.found += 1
        scored.duplicates += len(got) - 1
        scored.delays_s.append((first.opened_ms - record["start_ms"]) / 1000)
        reopened = any(later.opened_ms > (earlier.resolved_ms or math.inf) for earlier, later in pairwise(got))
        if reopened or any(t.reopened for t in got):
            scored.flapping += 1
        if record["end_ms"] is not None and record["end_ms"] + STALE_AFTER_S * 1000 <= end_ms:
            limit = record["end_ms"] + STALE_AFTER_S * 1000
            scored.stale += sum((t.resolved_ms or math.inf) > limit for t in got)
        if record["kind"] == "flood":
            scored.crossed += 1
            scored.before_crossing += first.opened_ms < record["start_ms"]
    return types, false, missed


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
    from simulators.run import run_simulation

    settings = settings or AnalyticsSettings()
    city = load_city(_city_path(run.city))
    start = datetime.fromisoformat(run.start).timestamp()
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        sessions = connect(f"sqlite:///{Path(folder) / 'tickets.db'}")
        _throwaway(sessions.kw["bind"])
        by_id = {d.device_id: d for d in city.devices}

        def meta(device_id: str) -> DeviceMeta:
            device = by_id.get(device_id)
            return DeviceMeta(device_id, device.district if device else "unknown", device.kind if device else "unknown")

        engine = Engine(EngineConfig.from_settings(settings), meta)
        policy = TicketPolicy(sessions, quiet_period_s=settings.quiet_period_s)
        # One continuous city: the history comes first in the same simulation (no seam where a
        # second world would begin), analytics only warms up on it, and the plan starts after it.
        history_s = run.history_days * 86_400
        sink = _EvalSink(engine, policy, scored_from_ms=round(start * 1000))
        began = time.monotonic()
        summary = run_simulation(simulation_options(run, city), SimulateSettings(), sink=sink, progress=progress)
        end_ms = round((start + run.days * 86_400) * 1000)
        sink.tick(end_ms)
        wall = time.monotonic() - began
        tickets = _tickets(sessions)
        sessions.kw["bind"].dispose()
    # What the world did during the history was learned from, not scored.
    truth = [asdict(r) for r in summary.truth if r.start_ms >= sink.scored_from_ms]
    device_days = summary.devices * run.days
    kinds = {d.device_id: d.kind for d in city.devices}
    types, false, missed = score(truth, tickets, device_kinds=kinds, device_days=device_days, end_ms=end_ms)
    false_list = [
        {
            "ticket": t.id,
            "service_code": t.service_code,
            "district": t.district,
            "devices": list(t.devices),
            "opened": datetime.fromtimestamp(t.opened_ms / 1000, UTC).isoformat(),
            "detector": t.detector,
        }
        for t in false
    ]
    scored_days = (summary.simulated_s - history_s) / 86_400
    return RunReport(run, summary.devices, sink.readings, scored_days, wall, types, len(tickets), false_list, missed)


def simulation_options(run: Run, city: City) -> RunOptions:
    """The run as the simulator runs it: one continuous city from `history_days` before the run's start.

    The history comes first in the same simulation (no seam where a second world would begin) and
    the scenario's plan and listed events start after it.
    """
    from simulators.run import RunOptions
    from simulators.scenario import load_scenario

    history_s = run.history_days * 86_400
    return RunOptions(
        city=city,
        scenario=_shifted(load_scenario(run.scenario), history_s),
        seed=run.seed,
        devices=run.devices,
        speed=math.inf,
        until_s=history_s + run.days * 86_400,
        start=datetime.fromisoformat(run.start).timestamp() - history_s,
        to="store",
        register=False,
    )


def _shifted(scenario: Scenario, history_s: float) -> Scenario:
    """The scenario's plan and listed events moved past a history of `history_s` seconds.

    A `random:` scenario draws its events over the whole simulation, history included: those are
    learned from like the rest of the history and not scored.
    """
    if history_s <= 0:
        return scenario
    update: dict[str, Any] = {
        name: [e.model_copy(update={"start_s": e.start_s + history_s}) for e in getattr(scenario, name)]
        for name in ("incidents", "faults", "anomalies")
    }
    if scenario.plan is not None:
        update["plan"] = scenario.plan.model_copy(update={"from_s": scenario.plan.from_s + history_s})
    return scenario.model_copy(update=update)


def _throwaway(engine: Any) -> None:
    """A tickets database that is deleted after the run need not survive a power cut: no fsync per commit."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    engine.dispose()


def _city_path(city: str | None) -> Path | None:
    """A city YAML by path, or a shipped city by name (`simulators/cities/NAME.yaml`)."""
    if city is None:
        return None
    path = Path(city)
    if path.suffix:
        return path
    from simulators.city import CITIES_DIR

    return CITIES_DIR / f"{city}.yaml"


def report_document(scenario: str, reports: Sequence[RunReport]) -> dict[str, Any]:
    """What `--json` prints: `types` totalled over every run, then each run, then a summary."""
    totals = combine([r.types for r in reports])
    device_days = sum(r.device_days for r in reports)
    false = sum(r.false_tickets for r in reports)
    return {
        "scenario": scenario,
        "types": type_rows(totals),
        "runs": [r.as_dict() for r in reports],
        "summary": {
            "runs": len(reports),
            "device_days": round(device_days, 1),
            "tickets": sum(r.tickets for r in reports),
            "false_tickets": false,
            "false_tickets_per_100_device_days": round(100 * false / device_days, 3) if device_days else None,
            "flapping": sum(t.flapping for t in totals.values()),
            "stale": sum(t.stale for t in totals.values()),
            "readings": sum(r.readings for r in reports),
            "wall_s": round(sum(r.wall_s for r in reports), 1),
        },
    }

"""Scenarios: which incidents, device faults and anomalies happen where and when, from YAML files or a seed.

Times are seconds after the simulation starts. An incident affects a district (or the devices it
names); a fault or an anomaly affects one device. `random:` in a scenario file (or `--scenario
random`) adds incidents and faults drawn from the run's seed, so the same seed always gives the
same city; `plan:` places a fixed number of every incident, fault and anomaly kind at times and
places drawn from the seed (the evaluation sets use it to get enough cases of every kind).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ANOMALY_KINDS",
    "FAULT_KINDS",
    "INCIDENT_KINDS",
    "Anomaly",
    "Fault",
    "Incident",
    "Plan",
    "RandomPlan",
    "Scenario",
    "envelope",
    "load_scenario",
]

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"

IncidentKind = Literal["flood", "pollution", "bin_overflow", "streetlight_failure", "noise_complaint"]
FaultKind = Literal["stuck", "drift", "spikes", "silence", "battery_death", "clock_skew"]
INCIDENT_KINDS: tuple[str, ...] = IncidentKind.__args__  # type: ignore[attr-defined]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]
AnomalyKind = Literal["traffic_collapse", "night_noise", "lamp_overdraw", "gauge_oscillation", "pattern_change"]
ANOMALY_KINDS: tuple[str, ...] = AnomalyKind.__args__  # type: ignore[attr-defined]
# Which device kind shows an anomaly and the quantity it moves (each kind on its own device kind).
ANOMALY_TARGETS: dict[str, tuple[str, str]] = {
    "traffic_collapse": ("traffic", "traffic_count"),
    "night_noise": ("noise", "noise"),
    "lamp_overdraw": ("streetlight", "power"),
    "gauge_oscillation": ("water", "water_level"),
    "pattern_change": ("air", "pm25"),
}

# Which device kind shows an incident, the quantity it moves, and the level it is driven to by default.
INCIDENT_TARGETS: dict[str, tuple[str, str, float]] = {
    "flood": ("water", "water_level", 3.4),
    "pollution": ("air", "pm25", 160.0),
    "bin_overflow": ("bin", "bin_fill", 100.0),
    "streetlight_failure": ("streetlight", "power", 0.0),
    "noise_complaint": ("noise", "noise", 88.0),
}


def envelope(elapsed_s: float, duration_s: float, ramp_s: float) -> float:
    """0 outside [0, duration]; rises linearly to 1 over `ramp_s`, holds, and falls the same way."""
    if elapsed_s < 0 or elapsed_s > duration_s:
        return 0.0
    if ramp_s <= 0:
        return 1.0
    return max(0.0, min(1.0, elapsed_s / ramp_s, (duration_s - elapsed_s) / ramp_s))


class Incident(BaseModel):
    """Something happening in the city that deserves a ticket.

    `peak` is the level the affected quantity is driven to (metres at the gauges for a flood, ug/m3
    PM2.5 for pollution, % for a bin, W for a streetlight, dB for noise); `ramp_s` is how long the
    rise takes (a quarter of the duration by default). A flood also brings heavy rain (`rain_mm_h`)
    from its start, and its water starts rising `lag_s` later (half the ramp by default).
    `devices` limits it to some devices; by default a flood, pollution or noise episode reaches every
    device of its kind in the district, and a bin overflow or streetlight failure one device.
    """

    model_config = ConfigDict(extra="forbid")

    kind: IncidentKind
    district: str
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    peak: float | None = None
    ramp_s: float | None = Field(default=None, ge=0)
    lag_s: float | None = Field(default=None, ge=0)
    rain_mm_h: float = Field(default=60.0, ge=0)
    cause: Literal["open_burning", "traffic_jam", "industrial"] | None = None
    devices: list[str] | None = None

    @property
    def target_kind(self) -> str:
        return INCIDENT_TARGETS[self.kind][0]

    @property
    def quantity(self) -> str:
        return INCIDENT_TARGETS[self.kind][1]

    @property
    def level(self) -> float:
        return INCIDENT_TARGETS[self.kind][2] if self.peak is None else self.peak

    @property
    def rise_s(self) -> float:
        return self.duration_s / 4 if self.ramp_s is None else min(self.ramp_s, self.duration_s / 2)

    @property
    def delay_s(self) -> float:
        if self.kind != "flood":
            return 0.0
        return min(self.rise_s / 2 if self.lag_s is None else self.lag_s, self.duration_s / 2)

    def intensity(self, elapsed_s: float) -> float:
        """0..1: how strongly the incident shows `elapsed_s` after the simulation started."""
        delay = self.delay_s
        return envelope(elapsed_s - self.start_s - delay, self.duration_s - delay, self.rise_s)


class Fault(BaseModel):
    """A device misbehaving: what device-health detection must notice.

    stuck: repeats its last value; drift: adds `magnitude` (in the quantity's unit) per day, growing
    linearly; spikes: a fraction `magnitude` (default 0.05) of readings jump 3-8x; silence: publishes
    nothing; battery_death: readings sag, then silence until the end of the run; clock_skew: its
    timestamps are off by `magnitude` seconds. `device` names it, or one is drawn from the seed among
    `device_kind` devices in `district`. Without `duration_s` it lasts until the end of the run.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    start_s: float = Field(ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    device: str | None = None
    district: str | None = None
    device_kind: str | None = None
    magnitude: float | None = None

    @model_validator(mode="after")
    def _whole_life(self) -> Fault:
        if self.kind == "battery_death":
            self.duration_s = None  # a dead battery does not come back
        return self


class Anomaly(BaseModel):
    """Something unusual that no threshold rule covers (it stays below every rule's limit).

    traffic_collapse: a counter's traffic falls to a tenth (a blocked road; placed in a weekday
    morning rush by plans); night_noise: a quiet street gets loud (about 70 dB) in the small hours;
    lamp_overdraw: a street light draws twice its rated power; gauge_oscillation: a water level
    starts swinging by `magnitude` metres (default 0.25) every few minutes; pattern_change: an air
    sensor's daily pattern changes abruptly (a new night-time source adds about 12 ug/m3 at night).
    `device` names it, or one of the kind's devices in `district` (or anywhere) is drawn from the seed.
    """

    model_config = ConfigDict(extra="forbid")

    kind: AnomalyKind
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    device: str | None = None
    district: str | None = None
    magnitude: float | None = None

    @property
    def target_kind(self) -> str:
        return ANOMALY_TARGETS[self.kind][0]

    @property
    def quantity(self) -> str:
        return ANOMALY_TARGETS[self.kind][1]


class Plan(BaseModel):
    """`per_kind` of every incident, fault and anomaly kind, placed from `from_s` to the end of the run.

    Times, places, devices and sizes are drawn from the seed; an event never overlaps another of
    its kind in the same district (incidents) or another event on the same device.
    """

    model_config = ConfigDict(extra="forbid")

    per_kind: int = Field(default=10, ge=0, le=60)
    from_s: float = Field(default=86_400.0, ge=0)


class RandomPlan(BaseModel):
    """How many random incidents and faults per simulated day to draw from the seed."""

    model_config = ConfigDict(extra="forbid")

    incidents_per_day: float = Field(default=3.0, ge=0, le=200)
    faults_per_day: float = Field(default=2.0, ge=0, le=200)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    incidents: list[Incident] = []
    faults: list[Fault] = []
    anomalies: list[Anomaly] = []
    random: RandomPlan | None = None
    plan: Plan | None = None


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name (`demo`, `random`, ...) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"no scenario {name_or_path!r} (shipped: {shipped})")
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"scenario file {path}: {exc}") from None

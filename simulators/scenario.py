"""Scenarios: which incidents happen where and when, read from YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

__all__ = ["Incident", "Scenario", "load_scenario"]

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"


class Incident(BaseModel):
    kind: Literal["flood", "pollution"]
    district: str
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    peak: float = Field(gt=0)

    def intensity(self, elapsed_s: float) -> float:
        """0 outside the incident; rises to 1 (over a quarter of it, 20 s at most), holds, falls the same way."""
        t = elapsed_s - self.start_s
        if t < 0 or t > self.duration_s:
            return 0.0
        ramp = min(self.duration_s / 4, 20.0)
        return min(1.0, t / ramp, (self.duration_s - t) / ramp)


class Scenario(BaseModel):
    name: str
    incidents: list[Incident] = []


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name (`demo`) or any YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"no scenario {name_or_path!r} (shipped: {shipped})")
    return Scenario.model_validate(yaml.safe_load(path.read_text()))

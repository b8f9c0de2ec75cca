"""Threshold rules for the obvious incidents: flood level, unhealthy air, a full bin, a dark lamp, noise.

A rule has an on-level and a lower clear-level (hysteresis: a value wobbling around the limit does
not open and close tickets), and needs `persist` readings in a row over the limit before it fires,
so one odd reading does not wake anyone. Thresholds come from settings and can be set per district
or per device in a thresholds file:

```yaml
district:
  sungai-barat: {flood: 2.8}
device:
  kota-lama-water-01: {flood: 3.1, noise: 80}
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from citysense.scales import BandScale, IndexScale, flood_scale, index_scale, noise_scale
from citysense.settings import AnalyticsSettings

__all__ = ["RULE_NAMES", "RuleSpec", "RuleTracker", "Thresholds", "default_rules", "load_thresholds"]


def _scaled(levels: tuple[tuple[float, str], ...]) -> Callable[[float, float], str]:
    """Severity by value / threshold: ((1.0, "high"), (1.4, "critical")) means 40 % over is critical."""

    def severity(value: float, threshold: float) -> str:
        found = levels[0][1]
        for ratio, name in levels:
            if value >= threshold * ratio:
                found = name
        return found

    return severity


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule. `direction` below: a lamp drawing almost no power at night is out."""

    name: str
    quantity: str
    service_code: str
    scope: Literal["district", "device"]
    title: str
    threshold: float
    clear: float
    persist: int
    severity: Callable[[float, float], str]
    direction: Literal["above", "below"] = "above"
    # Quantities whose unusual readings in the rule's district its breach explains, from the breach to
    # an hour after (`Engine._explained_by_incident`): a flood's storm wets and cools every rain gauge,
    # hygrometer and thermometer there, and the flood ticket speaks for them.
    explains: frozenset[str] = frozenset()

    def over(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.direction == "above" else value <= threshold

    def cleared(self, value: float, threshold: float) -> bool:
        """Below the clear level (threshold minus the hysteresis margin), for a rule that is on."""
        margin = self.threshold - self.clear
        return value < threshold - margin if self.direction == "above" else value > threshold - margin


def _air_severity(scale: IndexScale) -> Callable[[float, float], str]:
    """The ticket severity of the air index's category (citysense.scales), so ticket and page agree."""

    def severity(value: float, _threshold: float) -> str:
        return scale.level("pm25", value).severity or "medium"

    return severity


def _band_severity(scale_at: Callable[[float], BandScale], fallback: str) -> Callable[[float, float], str]:
    """The severity of the value's band on a scale built at the rule's threshold (per district too)."""

    def severity(value: float, threshold: float) -> str:
        return scale_at(threshold).level(value).severity or fallback

    return severity


def default_rules(settings: AnalyticsSettings) -> dict[str, RuleSpec]:
    """The rules by quantity, from settings (thresholds per district or device come on top).

    Flood, air and noise take their thresholds and severities from `citysense.scales`.
    """
    flood = settings.flood_level_m
    air = index_scale(settings.air_index)
    pm25 = air.ticket_threshold("pm25")
    rules = (
        RuleSpec(
            "flood",
            "water_level",
            "flood",
            "district",
            "Flood risk: river or drain water above the flood level",
            flood,
            flood - 0.15,
            2,
            _band_severity(flood_scale, "high"),
            # Not water levels: measured on the simulated city, that hid gauges that began to
            # oscillate during or after a flood and removed no false ticket (docs/detection.md).
            explains=frozenset({"rainfall", "humidity", "temperature"}),
        ),
        RuleSpec(
            "air",
            "pm25",
            "air_quality",
            "district",
            "Unhealthy air: PM2.5 above the healthy limit",
            pm25,
            pm25 * 0.85,
            3,
            _air_severity(air),
        ),
        RuleSpec(
            "bin_full",
            "bin_fill",
            "waste",
            "device",
            "Waste bin full",
            settings.bin_full_pct,
            settings.bin_full_pct - 12,
            2,
            _scaled(((1.0, "medium"),)),
        ),
        RuleSpec(
            "lamp_out",
            "power",
            "streetlight",
            "device",
            "Street light out",
            settings.lamp_out_w,
            settings.lamp_out_w + 4,
            2,
            _scaled(((1.0, "medium"),)),
            direction="below",
        ),
        RuleSpec(
            "noise",
            "noise",
            "noise",
            "district",
            "Noise above the limit",
            settings.noise_limit_db,
            settings.noise_limit_db - 4,
            3,
            _band_severity(noise_scale, "low"),
        ),
    )
    return {rule.quantity: rule for rule in rules}


RULE_NAMES = ("flood", "air", "bin_full", "lamp_out", "noise")


class Thresholds:
    """Per-district and per-device thresholds over the rules' defaults (device wins over district)."""

    def __init__(
        self,
        *,
        district: Mapping[str, Mapping[str, float]] | None = None,
        device: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        for where in (district or {}, device or {}):
            for owner, values in where.items():
                unknown = set(values) - set(RULE_NAMES)
                if unknown:
                    raise ValueError(f"thresholds for {owner}: unknown rules {sorted(unknown)} (known: {RULE_NAMES})")
        self.district = {k: dict(v) for k, v in (district or {}).items()}
        self.device = {k: dict(v) for k, v in (device or {}).items()}

    def threshold(self, rule: RuleSpec, *, district: str, device_id: str) -> float:
        by_device = self.device.get(device_id)
        if by_device is not None and rule.name in by_device:
            return float(by_device[rule.name])
        by_district = self.district.get(district)
        if by_district is not None and rule.name in by_district:
            return float(by_district[rule.name])
        return rule.threshold


def load_thresholds(path: Path | None) -> Thresholds:
    """The thresholds file (YAML or TOML by suffix), or the defaults when there is none."""
    if path is None:
        return Thresholds()
    text = path.read_text()
    if path.suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or set(data) - {"district", "device"}:
        raise ValueError(f"thresholds file {path}: top-level keys are 'district' and 'device'")
    return Thresholds(district=data.get("district"), device=data.get("device"))


class RuleTracker:
    """One series against one rule: on after `persist` readings over, off below the clear level."""

    __slots__ = ("active", "streak")

    def __init__(self) -> None:
        self.active = False
        self.streak = 0

    def update(self, rule: RuleSpec, value: float, threshold: float) -> bool:
        if self.active:
            if rule.cleared(value, threshold):
                self.active = False
                self.streak = 0
            return self.active
        if rule.over(value, threshold):
            self.streak += 1
            if self.streak >= rule.persist:
                self.active = True
        else:
            self.streak = 0
        return self.active

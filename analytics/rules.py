"""Threshold rules for the obvious incidents: a flood level, unhealthy air."""

from __future__ import annotations

from dataclasses import dataclass

from citysense.settings import AnalyticsSettings
from citysense.wire import Reading

__all__ = ["Breach", "Rule", "default_rules", "evaluate"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A reading of `quantity` at or above `levels[0][0]` is a breach; higher levels raise severity."""

    quantity: str
    service_code: str
    title: str
    levels: tuple[tuple[float, str], ...]

    @property
    def threshold(self) -> float:
        return self.levels[0][0]

    def severity(self, value: float) -> str:
        severity = self.levels[0][1]
        for level, name in self.levels:
            if value >= level:
                severity = name
        return severity


@dataclass(frozen=True, slots=True)
class Breach:
    rule: Rule
    reading: Reading
    severity: str


def default_rules(settings: AnalyticsSettings) -> dict[str, Rule]:
    """Flood at the configured gauge level; PM2.5 from the US AQI 'Unhealthy' breakpoint (2024) up."""
    flood = settings.water_level_flood_m
    pm25 = settings.pm25_unhealthy_ugm3
    rules = (
        Rule(
            "water_level",
            "flood",
            "Flood risk: river or drain water above the flood level",
            ((flood, "high"), (flood * 1.4, "critical")),
        ),
        Rule(
            "pm25",
            "air_quality",
            "Unhealthy air: PM2.5 above the healthy limit",
            ((pm25, "medium"), (max(pm25, 125.5), "high"), (max(pm25, 225.5), "critical")),
        ),
    )
    return {rule.quantity: rule for rule in rules}


def evaluate(rules: dict[str, Rule], reading: Reading) -> Breach | None:
    rule = rules.get(reading.quantity)
    if rule is None or reading.value < rule.threshold:
        return None
    return Breach(rule, reading, rule.severity(reading.value))

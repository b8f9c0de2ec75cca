"""Incidents in truth, derived from the world: a true quantity over a rule's limit for the rule's confirm time.

The simulator keeps what the world does (the true water level, the true PM2.5 at a sensor's
place) apart from what sensors report (calibration, noise, outliers, faults). An incident in
truth is whatever makes a true quantity stay over a rule's limit for as many of the device's
reporting periods in a row as the rule needs, whatever caused it: a scenario's flood or an
ordinary wet-season storm, a smoke episode or a hazy dry-season afternoon, an overflowing bin
on a market day. It lasts until the true value falls back past the rule's clear level; two
episodes of one district (or device) less than `MERGE_S` apart are one incident. A reading that
crosses while the world does not (a stuck, drifting or spiking sensor, an outlier) is no incident,
and a ticket for it is false.

`RULE_LIMITS` are the official limits the analytics rules default to (flood level, the first PM2.5
concentration whose category on the city's default air index opens a ticket, from
`citysense.scales`, a full bin, a dark lamp, the noise limit); a test keeps them equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from citysense.scales import index_scale
from citysense.settings import CommonSettings

__all__ = ["MERGE_S", "RULE_LIMITS", "Episode", "EpisodeTracker", "RuleLimit"]

MERGE_S = 3600.0


@dataclass(frozen=True, slots=True)
class RuleLimit:
    kind: str  # the incident kind in truth
    limit: float
    clear: float
    confirm: int  # readings in a row over the limit
    direction: Literal["above", "below"]
    scope: Literal["district", "device"]

    def over(self, value: float) -> bool:
        return value >= self.limit if self.direction == "above" else value <= self.limit

    def cleared(self, value: float) -> bool:
        return value < self.clear if self.direction == "above" else value > self.clear


# ISPU "tidak sehat" (101) starts at 55.875 ug/m3; the rule clears below 85 % of it.
_PM25_LIMIT = index_scale(str(CommonSettings.model_fields["air_index"].default)).ticket_threshold("pm25")

RULE_LIMITS: dict[str, RuleLimit] = {
    "water_level": RuleLimit("flood", 2.5, 2.35, 2, "above", "district"),
    "pm25": RuleLimit("pollution", _PM25_LIMIT, _PM25_LIMIT * 0.85, 3, "above", "district"),
    "bin_fill": RuleLimit("bin_overflow", 97.0, 85.0, 2, "above", "device"),
    "power": RuleLimit("streetlight_failure", 0.5, 4.5, 2, "below", "device"),
    "noise": RuleLimit("noise_complaint", 78.0, 74.0, 3, "above", "district"),
}


@dataclass(slots=True)
class Episode:
    """One incident in truth: where, which devices, from the first true value over the limit to the clear."""

    kind: str
    quantity: str
    district: str
    start_s: float
    end_s: float | None = None
    devices: list[str] = field(default_factory=list)
    peak: float = 0.0


@dataclass(slots=True)
class _Series:
    run: int = 0
    first_s: float = 0.0
    on: bool = False


class EpisodeTracker:
    """Fed every device's true values in time order; collects the episodes."""

    def __init__(self) -> None:
        self.episodes: list[Episode] = []
        self._series: dict[tuple[str, str], _Series] = {}
        self._active: dict[tuple[str, str], set[str]] = {}  # (scope key, quantity) -> devices over
        self._open: dict[tuple[str, str], Episode] = {}
        self._last: dict[tuple[str, str], Episode] = {}

    def observe(self, device_id: str, district: str, now: float, values: dict[str, float]) -> None:
        for quantity, value in values.items():
            rule = RULE_LIMITS.get(quantity)
            if rule is None:
                continue
            series = self._series.setdefault((device_id, quantity), _Series())
            key = (district if rule.scope == "district" else device_id, quantity)
            if series.on:
                episode = self._open[key]
                episode.peak = max(episode.peak, value) if rule.direction == "above" else min(episode.peak, value)
                if rule.cleared(value):
                    series.on, series.run = False, 0
                    active = self._active[key]
                    active.discard(device_id)
                    if not active:
                        episode.end_s = now
                        self._last[key] = self._open.pop(key)
                continue
            if not rule.over(value):
                series.run = 0
                continue
            if series.run == 0:
                series.first_s = now
            series.run += 1
            if series.run < rule.confirm:
                continue
            series.on = True
            self._start(key, rule, district, device_id, series.first_s, value)

    def _start(self, key: tuple[str, str], rule: RuleLimit, district: str, device_id: str, first_s: float,
               value: float) -> None:  # fmt: skip
        active = self._active.setdefault(key, set())
        active.add(device_id)
        episode = self._open.get(key)
        if episode is None:
            last = self._last.get(key)
            if last is not None and last.end_s is not None and first_s - last.end_s < MERGE_S:
                episode, last.end_s = last, None  # back within the hour: the same incident
                del self._last[key]
            else:
                episode = Episode(rule.kind, key[1], district, first_s, peak=value)
                self.episodes.append(episode)
            self._open[key] = episode
        if device_id not in episode.devices:
            episode.devices.append(device_id)

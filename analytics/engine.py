"""The scoring engine: every reading through every detector, findings out.

Readings come in per device in time order (MQTT from the city, or the simulator in evaluation);
`process` scores a reading with all detectors of its series, learns from it, and returns what the
ticket policy should hear about. `tick` reports devices that went silent. The engine holds no
database and no clock of its own: time is the readings' time, so a week simulated in a minute and
a live week give the same findings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from analytics.anomaly import Detector, make_detector, pack_state
from analytics.detectors.forecast import TrendForecast
from analytics.detectors.forest import ForestModel, window_features
from analytics.detectors.health import (
    ClockCheck,
    DryWeatherShift,
    ImplausibleJump,
    NeighbourDrift,
    SilenceWatch,
    StuckValue,
)
from analytics.findings import Finding
from analytics.localtime import DEFAULT_TIMEZONE
from analytics.profiles import profile_of
from analytics.rules import RuleSpec, RuleTracker, Thresholds, default_rules
from citysense.settings import AnalyticsSettings
from citysense.wire import QUANTITIES, Reading

__all__ = ["DeviceMeta", "Engine", "EngineConfig"]

log = logging.getLogger(__name__)

DETECTOR_VERSION = "citysense-detectors-2"
ANOMALY_TITLE = "Unusual readings, inspection needed"
# Version 2 saves each detector packed (`pack_state`); version 1's plain states are read as they are.
ANOMALY_STATE_VERSION = 2
_READABLE_STATE_VERSIONS = (1, 2)
# The common-cause test for anomaly tickets (`Engine._in_common`): the share of neighbours that must
# show it, how far a neighbour must depart the same way (`_COMMON_Z` usual spreads, or less for a
# device that departs little itself: `_COMMON_PART` of its departure, `_COMMON_Z_MIN` at the least),
# and how recent its reading.
_COMMON_SHARE = 0.5
_COMMON_Z = 2.0
_COMMON_PART = 0.5
_COMMON_Z_MIN = 1.0
_COMMON_FRESH_MS = 900_000
_ANOMALY_HOLD_S = 3600.0
_FAULT_TITLES = {
    "stuck": "Sensor stuck: it repeats the same value",
    "implausible_jump": "Sensor implausible: values jump beyond what is physically possible",
    "neighbour_drift": "Sensor drifting away from its neighbours",
    "dry_weather_shift": "Water gauge drifting: its level moved in dry weather",
    "silence": "Sensor silent: no readings",
    "clock_skew": "Sensor clock wrong: readings carry the wrong time",
}


@dataclass(frozen=True, slots=True)
class DeviceMeta:
    """What the registry says about a device: where it is and what it is."""

    device_id: str
    district: str
    kind: str


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Decision settings of the engine (detectors keep their own, physical ones per quantity)."""

    rules: dict[str, RuleSpec]
    thresholds: Thresholds = field(default_factory=Thresholds)
    forecast_horizon_s: float = 1800.0
    clock_tolerance_s: float = 90.0
    spikes_to_alarm: int = 3
    spike_window_s: float = 6 * 3600.0
    drift_persist: int = 60
    skew_persist: int = 3
    skew_hold_s: float = 600.0
    dry_after_s: float = 6 * 3600.0
    faulty_hold_s: float = 6 * 3600.0
    timezone: str = DEFAULT_TIMEZONE
    evidence_window: int = 12
    # The general anomaly detector (analytics.anomaly) on every series.
    anomaly_budget: float = 4e-5
    anomaly_budget_interval_s: float = 0.0  # > 0: the budget is a fraction of a series read this often (0: per reading)
    anomaly_confirm: int = 3
    anomaly_confirm_s: float = 900.0  # and for this long: a short burst is not worth an inspection
    anomaly_public: bool = False  # False: residents see anomaly tickets once an operator confirms one
    # A device's readings are not its own anomaly while more than half of its neighbours (same district and
    # quantity) show the same within this window (`Engine._in_common`).
    anomaly_common_window_s: float = 3600.0
    # An alarm found shared with the neighbours stays the world's until it ends (`_Series.anomaly_common`).
    anomaly_common_holds: bool = True
    # Whether the detectors learn what is rare from readings a rule breach or a fault explains
    # (`Engine._unusual`).
    anomaly_learn_incidents: bool = False
    # A swinging device's alarm is shared only with neighbours that swing too (`Engine._in_common`).
    anomaly_common_swings: bool = True
    # ... and for the weather's own quantities too (temperature, humidity; `_swing_judged`).
    anomaly_common_swings_weather: bool = False
    # A water gauge rising while its district's rain gauges read rain is the rain's (`Engine._raised_by_rain`).
    anomaly_rain_explains_rise: bool = True
    # Neighbours share an alarm only when more than half of them show it, not half (`Engine._in_common`).
    anomaly_common_strict: bool = True
    # The same for quantities each device has its own (neither `QuantityProfile.shared` nor
    # `weather_driven`: lamps, counters, bins), whatever the above.
    anomaly_common_strict_own: bool = True
    # Every detector also judges runs of readings in their hour's spread (`make_detector(run_view=)`).
    anomaly_run_view: bool = False

    def detector_options(self) -> dict[str, Any]:
        """What every series' anomaly detector is made with (`make_detector`)."""
        return {
            "budget": self.anomaly_budget,
            "timezone": self.timezone,
            "budget_interval": self.anomaly_budget_interval_s or None,
            "run_view": self.anomaly_run_view,
        }

    @classmethod
    def from_settings(cls, settings: AnalyticsSettings, thresholds: Thresholds | None = None) -> EngineConfig:
        return cls(
            rules=default_rules(settings),
            thresholds=thresholds or Thresholds(),
            forecast_horizon_s=settings.forecast_horizon_s,
            clock_tolerance_s=settings.clock_tolerance_s,
            timezone=settings.timezone,
            anomaly_budget=settings.anomaly_budget,
            anomaly_budget_interval_s=settings.anomaly_budget_interval_s,
            anomaly_confirm=settings.anomaly_confirm,
            anomaly_confirm_s=settings.anomaly_confirm_s,
            anomaly_public=not settings.anomaly_public_after_confirm,
            anomaly_common_window_s=settings.anomaly_common_window_s,
            anomaly_common_holds=settings.anomaly_common_holds,
            anomaly_learn_incidents=settings.anomaly_learn_incidents,
            anomaly_common_swings=settings.anomaly_common_swings,
            anomaly_common_swings_weather=settings.anomaly_common_swings_weather,
            anomaly_rain_explains_rise=settings.anomaly_rain_explains_rise,
            anomaly_common_strict=settings.anomaly_common_strict,
            anomaly_common_strict_own=settings.anomaly_common_strict_own,
            anomaly_run_view=settings.anomaly_run_view,
        )


class _Series:
    """Everything the engine keeps about one (device, quantity)."""

    __slots__ = (
        "anomaly",
        "anomaly_common",
        "anomaly_explained",
        "anomaly_rained",
        "anomaly_seen_ms",
        "anomaly_since_ms",
        "anomaly_streak",
        "dry",
        "forecast",
        "forecast_streak",
        "jump",
        "model_cache",
        "pending_spike_ms",
        "profile",
        "rule",
        "stuck",
        "tracker",
        "window",
    )

    def __init__(self, quantity: str, rule: RuleSpec | None, threshold: float | None, config: EngineConfig) -> None:
        p = self.profile = profile_of(quantity)
        self.anomaly: Detector = make_detector(**config.detector_options())
        self.anomaly_streak = 0
        self.anomaly_since_ms = 0  # when the current run of readings at alarm began
        self.anomaly_explained = False  # a rule breach or fault explained the current run at some point
        self.anomaly_rained = False  # the current run rose in its district's rain, and has not swung since
        self.anomaly_common = False  # the neighbours were found to share the current run at some point
        self.anomaly_seen_ms = -1  # restored state has seen readings up to here (a warm-up may repeat them)
        known = QUANTITIES.get(quantity)  # a quantity from configuration may be known only to ingest
        self.stuck = StuckValue(saturated=(known.minimum, known.maximum) if known else (-math.inf, math.inf))
        self.jump = ImplausibleJump(max_step=p.max_step, ceiling=p.ceiling, up_only=p.up_only)
        self.rule = rule
        self.tracker = RuleTracker() if rule is not None else None
        self.forecast: TrendForecast | None = None
        if rule is not None and threshold is not None and p.forecast_horizon_s > 0:
            horizon = p.forecast_horizon_s * config.forecast_horizon_s / 1800.0
            self.forecast = TrendForecast(
                threshold=threshold, horizon_s=horizon, window_s=p.forecast_window_s, min_fraction=p.forecast_from
            )
        self.forecast_streak = 0
        self.window: deque[tuple[int, float]] = deque(maxlen=config.evidence_window)
        self.model_cache: tuple[int, dict[str, Any]] | None = None
        self.pending_spike_ms = 0
        self.dry: DryWeatherShift | None = None


class _DeviceHealth:
    __slots__ = ("drift_streak", "faulty_until_ms", "skew_offset_ms", "skew_since_ms", "skew_streak", "spikes")

    def __init__(self) -> None:
        self.spikes: deque[int] = deque()
        self.skew_streak = 0
        self.skew_since_ms: int | None = None
        self.skew_offset_ms = 0
        self.drift_streak: dict[str, int] = {}
        self.faulty_until_ms = 0


class Engine:
    """Not thread-safe: one thread feeds it (the MQTT callback thread, or the evaluation loop)."""

    def __init__(
        self,
        config: EngineConfig,
        devices: Callable[[str], DeviceMeta],
        *,
        models: dict[str, ForestModel] | None = None,
    ) -> None:
        self.config = config
        self._devices = devices
        self._meta: dict[str, DeviceMeta] = {}
        self._series: dict[tuple[str, str], _Series] = {}
        self._health: dict[str, _DeviceHealth] = {}
        self._drift: dict[tuple[str, str, str], NeighbourDrift] = {}
        self._rain_ms: dict[str, int] = {}
        # (district, quantity) -> the last reading of a district rule in breach that explains that quantity
        self._incident_ms: dict[tuple[str, str], int] = {}
        # (district or device, quantity) -> the last reading at which that rule was in breach.
        self._breach_ms: dict[tuple[str, str], int] = {}
        # Like `_alarm_ms`, for lasting alarms their volatility led (`anomaly_common_swings`).
        self._swing_ms: dict[tuple[str, str], dict[str, int]] = {}
        self._lessons: dict[tuple[str, str], float] = {}  # false-alarm marks for series not seen yet
        self._saved: dict[tuple[str, str], dict[str, Any]] = {}  # restored detector states not used yet
        self.silence = SilenceWatch()
        self.clock = ClockCheck(config.clock_tolerance_s)
        self.models = models or {}
        self.readings = 0
        self.failed = 0  # readings skipped because scoring them raised (logged once per series)
        self._failed_series: set[tuple[str, str]] = set()
        self.anomalies = 0
        self.anomalies_in_common = 0  # anomaly findings withheld because a neighbour was at alarm too
        self.anomalies_by_incident = 0  # readings at alarm that a district rule's breach explained (a flood)
        self.anomalies_by_rain = 0  # readings at alarm of a gauge rising while its district's rain gauges read rain
        self._alarm_ms: dict[tuple[str, str], dict[str, int]] = {}  # (district, quantity) -> device -> last alarm
        # (district, quantity) -> device -> (last reading, its signed departure in usual spreads; 0 if explained)
        self._stray: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}

    # ------------------------------------------------------------------ lookup

    def meta(self, device_id: str) -> DeviceMeta:
        meta = self._meta.get(device_id)
        if meta is None:
            meta = self._meta[device_id] = self._devices(device_id)
        return meta

    def forget(self, device_id: str) -> None:
        """Drop what the engine knows of a device: its registry entry changed (an "unknown" district
        is not cached forever), or another analytics process took the device over."""
        self._meta.pop(device_id, None)
        self._health.pop(device_id, None)
        for key in [key for key in self._series if key[0] == device_id]:
            del self._series[key]

    def _series_of(self, reading: Reading, meta: DeviceMeta) -> _Series:
        key = (reading.device_id, reading.quantity)
        series = self._series.get(key)
        if series is None:
            rule = self.config.rules.get(reading.quantity)
            threshold = (
                None
                if rule is None
                else self.config.thresholds.threshold(rule, district=meta.district, device_id=meta.device_id)
            )
            series = self._series[key] = _Series(reading.quantity, rule, threshold, self.config)
            saved = self._saved.pop(key, None)
            if saved is not None:
                try:
                    detector = make_detector(**self.config.detector_options(), state=saved["state"])
                    seen_ms = int(saved["seen_ms"])
                except Exception as exc:  # whatever the damage, it costs this series' history, never the reading
                    reason = f"{type(exc).__name__}: {exc}"
                    log.warning("saved anomaly state of %s %s unreadable (%s): it starts afresh", *key, reason)
                else:
                    series.anomaly, series.anomaly_seen_ms = detector, seen_ms
            lesson = self._lessons.pop(key, None)
            if lesson is not None:
                series.anomaly.teach(lesson)
        return series

    def _drift_group(self, meta: DeviceMeta, quantity: str) -> NeighbourDrift:
        key = (meta.district, meta.kind, quantity)
        group = self._drift.get(key)
        if group is None:
            group = self._drift[key] = NeighbourDrift(floor=profile_of(quantity).drift_floor)
        return group

    def _dry_shift(
        self, meta: DeviceMeta, reading: Reading, series: _Series, *, health: _DeviceHealth, clock_off: bool
    ) -> float:
        """Water gauges against their own dry-weather level, while the district's rain gauges say dry.

        The district's last rain is also what explains a gauge's rise (`_raised_by_rain`), so only a
        rain gauge the engine trusts (no open fault, a time the receiver does not dispute: not
        `clock_off`) may say it rained: one whose clock ran hours ahead stamped its shower in the
        future, and the district counted as rained on, every drain's rise the rain's, until real
        time caught up. An untrusted gauge's rain is not kept as the district's either way, so where
        it is the only gauge its water gauges are judged as in dry weather (docs/detection.md,
        seventeenth round).
        """
        if reading.quantity == "rainfall":
            trusted = not clock_off and health.faulty_until_ms <= reading.time_ms
            if reading.value > 0 and trusted:
                self._rain_ms[meta.district] = reading.time_ms
            else:
                self._rain_ms.setdefault(meta.district, 0)
            return 0.0
        if reading.quantity != "water_level":
            return 0.0
        last_rain = self._rain_ms.get(meta.district)
        dry = last_rain is not None and reading.time_ms - last_rain >= self.config.dry_after_s * 1000
        if series.dry is None:
            series.dry = DryWeatherShift()
        return series.dry.update(reading, dry=dry)

    def _skewed(self, health: _DeviceHealth, reading: Reading, received_ms: int) -> bool:
        """A device clock that is off, as opposed to a backlog the device sends after an outage.

        Ahead of the receiver is always wrong (`skew_persist` readings in a row). Behind it is what a
        drained offline queue looks like too, so a clock counts as slow only when the offset stays the
        same (within the tolerance) for `skew_hold_s` of the receiver's time: a backlog arrives all
        at once with offsets shrinking reading by reading.
        """
        offset = received_ms - reading.time_ms
        if self.clock.score(reading, received_ms) < 1.0:
            health.skew_streak, health.skew_since_ms = 0, None
            return False
        if offset < 0:
            health.skew_streak += 1
            return health.skew_streak >= self.config.skew_persist
        if health.skew_since_ms is None or abs(offset - health.skew_offset_ms) > self.config.clock_tolerance_s * 1000:
            health.skew_since_ms, health.skew_offset_ms = received_ms, offset
            return False
        return received_ms - health.skew_since_ms >= self.config.skew_hold_s * 1000

    # ------------------------------------------------------------------ the stream

    def warm(self, readings: Iterable[Reading]) -> int:
        """Learn from history (the store) without reporting anything: no cold start after a restart."""
        n = 0
        for reading in readings:
            self.process(reading, report=False)
            n += 1
        return n

    def process(self, reading: Reading, *, received_ms: int | None = None, report: bool = True) -> list[Finding]:
        """Score and learn one reading; the findings for the ticket policy (none while warming up).

        A reading that cannot be scored (a defect, or numbers no detector was made for) is skipped,
        counted in `failed` and logged once per series: raised out of here, it stopped the service's
        MQTT loop, and every later reading of every device went unscored. The device's registry
        entry is looked up outside the guard: that lookup's failure says nothing about the reading.
        """
        meta = self.meta(reading.device_id)
        try:
            return self._process(reading, meta, received_ms, report)
        except Exception:
            self.failed += 1
            key = (reading.device_id, reading.quantity)
            if key not in self._failed_series:
                self._failed_series.add(key)
                log.exception("could not score %s %s = %r; skipped (logged once per series)", *key, reading.value)
            return []

    def _process(self, reading: Reading, meta: DeviceMeta, received_ms: int | None, report: bool) -> list[Finding]:
        self.readings += 1
        series = self._series_of(reading, meta)
        health = self._health.get(reading.device_id)
        if health is None:
            health = self._health[reading.device_id] = _DeviceHealth()
        findings: list[Finding] = []
        self.silence.learn_one(reading)

        clock_off = False  # the receiver disputes this reading's time: its time of day says nothing
        if received_ms is not None:
            clock_off = self.clock.score(reading, received_ms) >= 1.0
            skew = self._skewed(health, reading, received_ms)
            if skew and report:
                score = self.clock.score(reading, received_ms)
                finding = self._fault(meta, reading, "clock_skew", score, {"received_ms": received_ms})
                # The reading's own time is the wrong one: the ticket runs on the receiver's clock.
                findings.append(dataclasses.replace(finding, time_ms=received_ms))

        pending = len(series.jump.rejected)
        jump = series.jump.update(reading)
        if jump >= 1.0 and series.jump.rejected:
            # Kept out of the rules and out of learning until we know whether it was a spike.
            series.pending_spike_ms = series.pending_spike_ms or reading.time_ms
            return findings
        if jump < 1.0 and pending:
            # The series came back: what jumped were spikes. Several make a faulty device.
            spikes = health.spikes
            spikes.extend([series.pending_spike_ms] * pending)
            while spikes and spikes[0] < reading.time_ms - self.config.spike_window_s * 1000:
                spikes.popleft()
            if len(spikes) >= self.config.spikes_to_alarm and report:
                health.faulty_until_ms = reading.time_ms + int(self.config.faulty_hold_s * 1000)
                finding = self._fault(
                    meta, reading, "implausible_jump", 1.0 + len(spikes) / 10, {"spikes": len(spikes)}
                )
                findings.append(dataclasses.replace(finding, hold_s=self.config.spike_window_s / 3))
        # Otherwise the level really moved (a fast flood): nothing was a spike, the reading counts.
        series.pending_spike_ms = 0

        stuck = series.stuck.score_one(reading) if series.profile.stuck_check else 0.0
        series.stuck.learn_one(reading)
        # Real crests carry noise: a value held flat over a rule's limit, or by two neighbours at
        # once, is a stuck sensor (or two), not the incident (docs/detection.md).
        if stuck >= 1.0 and report:
            health.faulty_until_ms = reading.time_ms + int(self.config.faulty_hold_s * 1000)
            findings.append(self._fault(meta, reading, "stuck", stuck, {"run": series.stuck.run}))

        if series.profile.shared:
            drift, drift_detector = self._drift_group(meta, reading.quantity).update(reading), "neighbour_drift"
        else:
            drift = self._dry_shift(meta, reading, series, health=health, clock_off=clock_off)
            drift_detector = "dry_weather_shift"
        streak = health.drift_streak.get(reading.quantity, 0) + 1 if drift >= 1.0 else 0
        health.drift_streak[reading.quantity] = streak
        if streak >= self.config.drift_persist and report:
            health.faulty_until_ms = reading.time_ms + int(self.config.faulty_hold_s * 1000)
            findings.append(self._fault(meta, reading, drift_detector, drift, {}))

        at_alarm = False
        if reading.time_ms > series.anomaly_seen_ms:
            calibrate = self.config.anomaly_learn_incidents or not self._unusual(meta, reading, health)
            anomaly = series.anomaly.update(reading.time_ms / 1000, reading.value, calibrate=calibrate)
            series.anomaly_seen_ms = reading.time_ms
            # Not `anomaly >= 0.5`: a change inside an alarm marks a fresh onset by re-arming (one
            # reading just under 0.5), which would restart the confirmation of a lasting alarm.
            at_alarm = series.anomaly.alarm
        else:
            anomaly = 0.0  # already learned before the restart
        series.window.append((reading.time_ms, reading.value))
        if at_alarm:
            self.anomalies += 1
            series.anomaly_streak += 1
            if series.anomaly_streak == 1:
                series.anomaly_since_ms = reading.time_ms
        else:
            series.anomaly_streak = 0
            series.anomaly_common = False

        in_breach = False
        if series.rule is not None and series.tracker is not None:
            findings.extend(self._rules(reading, meta, series, health, anomaly, report))
            in_breach = series.tracker.active
            if in_breach:
                scope = meta.district if series.rule.scope == "district" else meta.device_id
                self._breach_ms[(scope, reading.quantity)] = reading.time_ms
                for quantity in series.rule.explains:
                    self._incident_ms[(meta.district, quantity)] = reading.time_ms
        explained = in_breach or health.faulty_until_ms > reading.time_ms
        if series.anomaly_streak > 0 and not explained and self._explained_by_incident(meta, reading):
            self.anomalies_by_incident += 1
            explained = True
        # An alarm that a rule or fault explained stays explained until it ends: the minutes after a
        # lamp is mended or a bin emptied, while the detector lets go, are the same event, whose
        # ticket the rule already has.
        series.anomaly_explained = series.anomaly_streak > 0 and (series.anomaly_explained or explained)
        explained = explained or series.anomaly_explained
        # The rain's explanation lasts while the alarm does, unless the gauge starts to swing.
        series.anomaly_rained = (
            series.anomaly_streak > 0
            and not series.anomaly.swinging
            and (series.anomaly_rained or (not explained and self._raised_by_rain(meta, reading, series)))
        )
        if series.anomaly_rained:
            self.anomalies_by_rain += 1
            explained = True
        z = 0.0 if explained else series.anomaly.z  # a neighbour's own rule breach or fault is no common cause
        self._stray.setdefault((meta.district, reading.quantity), {})[meta.device_id] = (reading.time_ms, z)
        if series.anomaly_streak >= self.config.anomaly_confirm and not explained:
            # Evidence of a common cause for the neighbours: a lasting alarm that no rule or fault of
            # this device explains (a failed lamp is its own incident, not the district's weather).
            self._alarm_ms.setdefault((meta.district, reading.quantity), {})[meta.device_id] = reading.time_ms
            if series.anomaly.lead == "volatility":
                self._swing_ms.setdefault((meta.district, reading.quantity), {})[meta.device_id] = reading.time_ms
        if (
            series.anomaly_streak >= self.config.anomaly_confirm
            and reading.time_ms - series.anomaly_since_ms >= self.config.anomaly_confirm_s * 1000
            and report
            and not explained  # the rule's own ticket covers it, or a broken sensor's fault ticket
            # A reading stamped far from when it arrived (a wrong device clock, a late backlog) is not
            # judged against its time of day, and its own time would resolve the ticket at once.
            and not clock_off
        ):
            # Once shared, an alarm stays the world's to its end (`anomaly_common_holds`): a device
            # whose neighbours settle first is not a device to inspect for the same storm.
            swings = series.anomaly.swinging and self._swing_judged(reading.quantity)
            if swings:
                common = self._in_common(meta, reading, series.anomaly.z, swings=True)
            else:
                common = series.anomaly_common or self._in_common(meta, reading, series.anomaly.z)
            if common:
                self.anomalies_in_common += 1
                series.anomaly_common = self.config.anomaly_common_holds
            else:
                findings.append(self._anomaly(meta, reading, series, anomaly))
        return findings

    def _unusual(self, meta: DeviceMeta, reading: Reading, health: _DeviceHealth) -> bool:
        """Whether this reading is an incident's or a broken sensor's, not the series' normal.

        The device is known faulty, or its quantity's rule is (or was, within the common window) in
        breach for its district (a flood, a haze, a party) or, for a device rule, for itself (a failed
        lamp). Its detector then scores it without learning from it what is rare
        (`update(calibrate=False)`): learned, a flood's rough hours made the same gauge's swinging
        that evening look ordinary (docs/detection.md, tenth round).
        """
        t = reading.time_ms
        if health.faulty_until_ms > t:
            return True
        # `_lately` for the district and the device, inline: this runs for every reading.
        window = self.config.anomaly_common_window_s * 1000
        last = self._breach_ms.get((meta.district, reading.quantity))
        if last is not None and t - last <= window:
            return True
        last = self._breach_ms.get((meta.device_id, reading.quantity))
        return last is not None and t - last <= window

    def _lately(self, stamps: dict[tuple[str, str], int], key: tuple[str, str], reading: Reading) -> bool:
        """Whether `stamps` holds a time for `key` within the common window before this reading."""
        last = stamps.get(key)
        return last is not None and reading.time_ms - last <= self.config.anomaly_common_window_s * 1000

    def _explained_by_incident(self, meta: DeviceMeta, reading: Reading) -> bool:
        """Whether a district rule that explains this quantity (`RuleSpec.explains`: a flood explains
        rain, humidity and temperature) is in breach in the device's district, or was within the
        common window.

        An alarm that starts then is explained to its end (`anomaly_explained`), like one a rule of
        its own explains: a hygrometer at saturation in the storm, a thermometer in its cold rain, a
        rain gauge at its wettest hour are the flood ticket's story, not a device to inspect. The
        neighbours' veto (`_in_common`) does not always hold them: the storm moves them by different
        amounts, and one neighbour dipping under its bar let three hygrometers that had been vetoed
        together for hours open tickets in the same minute (docs/detection.md, eighth round).
        """
        return self._lately(self._incident_ms, (meta.district, reading.quantity), reading)

    def _raised_by_rain(self, meta: DeviceMeta, reading: Reading, series: _Series) -> bool:
        """Whether this is a gauge rising above its normal while its district's rain gauges read rain.

        A shower fills a drain within minutes and a river within the hour; the neighbours' veto does
        not always see it, as a district's rivers and drains answer one shower at different times
        and by different amounts (one fellow drain rising is one neighbour of three). In the fifteenth
        round 7 of the standard set's 10 false water tickets were drains rising a few tenths of a
        metre during rain. A gauge whose volatility leads (it swings, its level keeps to its normal)
        is not the rain's: that is the oscillation an inspection is for. An alarm explained so stays
        explained while it lasts and does not swing (`_Series.anomaly_rained`): a drain still high
        when the shower's hour is over is the same event. Rain here is any rain gauge of the
        district reading above zero within `anomaly_common_window_s`.
        """
        if not self.config.anomaly_rain_explains_rise or not series.profile.rises_after_rain:
            return False
        if series.anomaly.z <= 0:
            return False
        last = self._rain_ms.get(meta.district)
        return last is not None and last > 0 and reading.time_ms - last <= self.config.anomaly_common_window_s * 1000

    def _swing_judged(self, quantity: str) -> bool:
        """Whether a swinging device of this quantity is judged only against neighbours that swing too.

        The swing rule (`anomaly_common_swings`) was made for river gauges, which rivers rising
        after rain had vetoed. For the weather's own quantities (`QuantityProfile.weather`:
        temperature, humidity) a storm swings one precise station and moves every other sensor's
        level alike; `anomaly_common_swings_weather` off judges those against departing neighbours.
        """
        if not self.config.anomaly_common_swings:
            return False
        return self.config.anomaly_common_swings_weather or not profile_of(quantity).weather

    def _in_common(self, meta: DeviceMeta, reading: Reading, z: float, *, swings: bool = False) -> bool:
        """Whether this device's neighbours (same district and quantity) share what it shows.

        Many sensors unusual at once is the world (the first shower after a dry week on every rain
        gauge, a river after a storm, a storm's cool air on the weather station and the air sensors
        alike), which the rules speak for; an anomaly ticket asks an operator to inspect one device.
        It is the world when more than half of the neighbours that reported within the window
        (`anomaly_common_window_s`) either were at a lasting alarm of their own in it, or now depart
        from what they expect the same way by two usual spreads, or by half as much as this device
        does when that is less (one spread at the least): a cold front moves every thermometer, not
        all of them past the alarm level, and a shower raises every hygrometer of a district by one
        or two spreads while one of them, a little wetter, alarms at two and a half. A lamp at twice
        its power departs by ten spreads, its neighbours by none. One or two neighbours of a dozen
        at alarm are not the world, nor are two of four: three noise sensors of five loud at three in
        the morning are three devices to inspect. `anomaly_common_strict` off makes half of them
        enough, except for a quantity each device has its own (neither shared nor driven by the
        weather: a lamp's power, a counter's traffic, a bin's fill; `anomaly_common_strict_own`):
        nothing but a supply fault or a holiday moves those together, and those move nearly all.
        Neighbours handled by another analytics process are not seen here.

        `swings`: the device is swinging (its volatility leads, its level keeps to its normal): only
        neighbours at a lasting alarm their volatility led share it. Rivers rising after rain depart
        the same way as a swinging gauge half the time, and had vetoed most gauge oscillations.
        """
        if self.config.anomaly_common_window_s <= 0:
            return False
        group = (meta.district, reading.quantity)
        since = reading.time_ms - int(self.config.anomaly_common_window_s * 1000)
        others = [
            (t, zo) for device, (t, zo) in self._stray.get(group, {}).items() if device != meta.device_id and t >= since
        ]
        if not others:
            return False
        # More than half of them (`anomaly_common_strict`, the default), or half (at least one); more
        # than half always for a quantity each device has its own (`anomaly_common_strict_own`): three
        # lamps of a district's five overdrawing the same evening are three lamps to inspect.
        share = _COMMON_SHARE * len(others)
        profile = profile_of(reading.quantity)
        own = not profile.shared and not profile.weather_driven
        strict = self.config.anomaly_common_strict or (self.config.anomaly_common_strict_own and own)
        need = math.floor(share) + 1 if strict else max(1.0, share)
        alarms = (self._swing_ms if swings else self._alarm_ms).get(group, {})
        if sum(t >= since for device, t in alarms.items() if device != meta.device_id) >= need:
            return True
        if swings:
            return False
        fresh = reading.time_ms - _COMMON_FRESH_MS
        far = max(_COMMON_Z_MIN, min(_COMMON_Z, _COMMON_PART * abs(z)))
        alike = sum(t >= fresh and math.copysign(1.0, z) * zo >= far for t, zo in others)
        return alike >= need

    def _anomaly(self, meta: DeviceMeta, reading: Reading, series: _Series, score: float) -> Finding:
        det = series.anomaly
        expected = det.expected(reading.time_ms / 1000)[""]
        deviation = det.deviation
        return Finding(
            service_code="anomaly",
            scope="device",
            kind="anomaly",
            district=meta.district,
            device_id=meta.device_id,
            quantity=reading.quantity,
            value=reading.value,
            threshold=expected.high if expected.observed >= (expected.low + expected.high) / 2 else expected.low,
            severity="low",
            detector="anomaly",
            score=score,
            time_ms=reading.time_ms,
            title=ANOMALY_TITLE,
            evidence={
                "window": [[t, v] for t, v in series.window],
                "expected": {"low": round(expected.low, 6), "high": round(expected.high, 6)},
                "observed": round(expected.observed, 6),
                "deviation": round(deviation, 6),
                "scores": {"anomaly": round(score, 3)},
                "detector_version": DETECTOR_VERSION,
            },
            interval_s=self.silence.usual_ms.get(meta.device_id, 0.0) / 1000,
            # A series that drifts in and out of alarm for an afternoon is one inspection, not one
            # ticket per return: the ticket stays open this long after the last finding.
            hold_s=_ANOMALY_HOLD_S,
            public=self.config.anomaly_public,
        )

    def anomaly_states(self) -> dict[str, Any]:
        """Every series' anomaly detector state, JSON-able: saved on stop so weekly cycles survive a restart."""
        series = {
            f"{device}\t{quantity}": {"seen_ms": s.anomaly_seen_ms, "state": pack_state(s.anomaly.state())}
            for (device, quantity), s in self._series.items()
        }
        for (device, quantity), saved in self._saved.items():  # restored but not seen again yet: keep them
            series.setdefault(f"{device}\t{quantity}", saved)
        return {"version": ANOMALY_STATE_VERSION, "series": series}

    def restore_anomaly_states(self, document: dict[str, Any]) -> int:
        """Resume detectors from `anomaly_states()` (before the warm-up); returns how many series."""
        if not isinstance(document, dict):
            raise ValueError(f"anomaly state is a JSON {type(document).__name__}, not an object")
        if document.get("version") not in _READABLE_STATE_VERSIONS:
            raise ValueError(f"anomaly state version {document.get('version')!r}, expected {ANOMALY_STATE_VERSION}")
        if not isinstance(document.get("series"), dict):
            raise ValueError('anomaly state has no "series" object')
        for key, saved in document["series"].items():
            device, _, quantity = key.partition("\t")
            self._saved[(device, quantity)] = saved
        return len(document["series"])

    def teach(self, device_id: str, quantity: str, deviation: float) -> bool:
        """An operator marked this series' anomaly ticket a false alarm: deviations this size are normal.

        Returns False when the series is not known (yet); the mark is kept and applied when it is.
        """
        series = self._series.get((device_id, quantity))
        if series is None:
            self._lessons[(device_id, quantity)] = max(deviation, self._lessons.get((device_id, quantity), 0.0))
            return False
        series.anomaly.teach(deviation)
        series.anomaly_streak = 0
        return True

    def _rules(
        self,
        reading: Reading,
        meta: DeviceMeta,
        series: _Series,
        health: _DeviceHealth,
        anomaly: float,
        report: bool,
    ) -> list[Finding]:
        rule, tracker = series.rule, series.tracker
        assert rule is not None
        assert tracker is not None
        threshold = self.config.thresholds.threshold(rule, district=meta.district, device_id=meta.device_id)
        active = tracker.update(rule, reading.value, threshold)
        forecast_score = 0.0
        if series.forecast is not None:
            forecast_score = series.forecast.score_one(reading)
            series.forecast.learn_one(reading)
        if not report or health.faulty_until_ms > reading.time_ms:
            return []  # a device known to be faulty does not speak for its district
        evidence = self._evidence(series, anomaly) if active or forecast_score >= 1.0 else {}
        if evidence and self.models:
            model = self._model_score(meta, reading, series)
            if model is not None:
                evidence["model"] = model
        if active:
            series.forecast_streak = 0
            severity = rule.severity(reading.value, threshold)
            return [
                self._finding(rule, "breach", meta, reading, threshold, severity, f"rule:{rule.name}", 1.0, evidence)
            ]
        if series.forecast is None or forecast_score < 1.0:
            series.forecast_streak = 0
            return []
        series.forecast_streak += 1
        if series.forecast_streak < 2:
            return []
        forecast = series.forecast.forecast()
        if forecast is not None and math.isfinite(forecast.eta_s):
            evidence["forecast"] = {
                "level": round(forecast.level, 3),
                "slope_per_h": round(forecast.slope_per_h, 3),
                "eta_s": round(forecast.eta_s),
                "crossing_ms": reading.time_ms + round(forecast.eta_s * 1000),
            }
        return [
            self._finding(
                rule, "forecast", meta, reading, threshold, "medium", "forecast:trend", forecast_score, evidence
            )
        ]

    def _model_score(self, meta: DeviceMeta, reading: Reading, series: _Series) -> dict[str, Any] | None:
        """The batch model's view of the current window (at most one model call per series per window)."""
        model = self.models.get(f"{meta.kind}.{reading.quantity}")
        if model is None or model.info_ is None or len(series.window) < 5:
            return None
        cached = series.model_cache
        if cached is not None and reading.time_ms - cached[0] < model.window_s * 1000 / 4:
            return cached[1]
        (score,) = model.score([window_features([v for _, v in series.window])])
        result = {"name": model.name, "version": model.info_.version, "trained_at": model.info_.trained_at,
                  "score": round(score, 3)}  # fmt: skip
        series.model_cache = (reading.time_ms, result)
        return result

    @staticmethod
    def _evidence(series: _Series, anomaly: float) -> dict[str, Any]:
        return {
            "window": [[t, v] for t, v in series.window],
            "scores": {"anomaly": round(anomaly, 3)},
            "detector_version": DETECTOR_VERSION,
        }

    def _finding(
        self,
        rule: RuleSpec,
        kind: str,
        meta: DeviceMeta,
        reading: Reading,
        threshold: float,
        severity: str,
        detector: str,
        score: float,
        evidence: dict[str, Any],
    ) -> Finding:
        title = rule.title if kind == "breach" else f"Forecast: {rule.title.split(':')[0].lower()} expected soon"
        return Finding(
            service_code=rule.service_code,
            scope=rule.scope,
            kind="breach" if kind == "breach" else "forecast",
            district=meta.district,
            device_id=meta.device_id,
            quantity=reading.quantity,
            value=reading.value,
            threshold=threshold,
            severity=severity,
            detector=detector,
            score=score,
            time_ms=reading.time_ms,
            title=title,
            evidence=evidence,
            interval_s=self.silence.usual_ms.get(meta.device_id, 0.0) / 1000,
        )

    def _fault(self, meta: DeviceMeta, reading: Reading, detector: str, score: float, extra: dict[str, Any]) -> Finding:
        series = self._series.get((reading.device_id, reading.quantity))
        window = [[t, v] for t, v in series.window] if series is not None else []
        return Finding(
            service_code="device_fault",
            scope="device",
            kind="fault",
            district=meta.district,
            device_id=meta.device_id,
            quantity=reading.quantity,
            value=reading.value,
            threshold=1.0,
            severity="low",
            detector=detector,
            score=score,
            time_ms=reading.time_ms,
            title=_FAULT_TITLES[detector],
            evidence={
                "window": window,
                "scores": {detector: round(score, 3)},
                "detector_version": DETECTOR_VERSION,
                **extra,
            },
            interval_s=self.silence.usual_ms.get(meta.device_id, 0.0) / 1000,
        )

    def tick(self, now_ms: int) -> list[Finding]:
        """Findings that no reading brings: devices that have gone silent."""
        findings = []
        for device_id, gap_ms in self.silence.silent(now_ms):
            meta = self.meta(device_id)
            limit = self.silence.limit_ms(device_id) or 1.0
            findings.append(
                Finding(
                    service_code="device_fault",
                    scope="device",
                    kind="fault",
                    district=meta.district,
                    device_id=device_id,
                    quantity="",
                    value=gap_ms / 1000,
                    threshold=limit / 1000,
                    severity="low",
                    detector="silence",
                    score=gap_ms / limit,
                    time_ms=now_ms,
                    title=_FAULT_TITLES["silence"],
                    evidence={
                        "silent_for_s": gap_ms // 1000,
                        "usual_interval_s": round(limit / 1000 / 6),
                        "detector_version": DETECTOR_VERSION,
                    },
                )
            )
        return findings

    # ------------------------------------------------------------------ batch models

    def window_features_of(self, device_id: str, quantity: str) -> list[float] | None:
        """The current evidence window as model features (for the batch models' scores)."""
        series = self._series.get((device_id, quantity))
        if series is None or len(series.window) < 5:
            return None
        return window_features([v for _, v in series.window])

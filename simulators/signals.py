"""Signals of the simulated sensors: the world at each device, then what the sensor makes of it.

`SignalModel.sample(device, now)` is what a simulated device's virtual driver reads. It works in
two steps that are kept apart on purpose:

1. the *true* values at the device's place: daily, weekly and seasonal cycles, weather, ordinary
   variability that sometimes reaches a rule's limit (a wet-season storm, a hazy dry-season day, a
   bin filled to the brim on a market day, a lamp flickering at dusk), the scenario's incidents
   (rise, a crest that wanders, recession) and anomalies. These feed the truth
   (`simulators.episodes`): an incident is the true value over a rule's limit, whatever caused it;
2. the *reading*: calibration gain, measurement noise on every reading (crests included), rare
   outliers and short gaps, then the device's faults. A reading that crosses a limit while the
   world does not is a fault, not an incident.

It is deterministic for a seed: the world (weather, water) comes from one `Environment`, and each
device draws from its own random streams (world, measurement, gaps), so simulating fewer devices
never changes the others and a fault never changes what the world did. Devices must be sampled in
time order (each device's state, like a bin's fill, moves forward).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from citysense.wire import QUANTITIES
from simulators.city import City, SimDevice, default_city
from simulators.episodes import EpisodeTracker
from simulators.scenario import Scenario
from simulators.truth import DRIFT_PER_DAY, Event, TruthRecord, resolve, truth_records
from simulators.weather import Environment, natural_water

__all__ = ["SignalModel"]

_DAY_S = 86_400.0
# Decimal places each quantity is reported with (sensor resolution).
_DECIMALS = {
    "pm25": 0, "pm10": 0, "temperature": 1, "humidity": 1, "noise": 1, "water_level": 2, "rainfall": 1,
    "bin_fill": 0, "traffic_count": 0, "power": 1,
}  # fmt: skip


def _bell(x: float, centre: float, width: float) -> float:
    return math.exp(-(((x - centre) / width) ** 2))


def traffic_profile(hour: float, weekday: int) -> float:
    """0..1: how busy the roads are. Two rush hours on weekdays, one broad midday hump at weekends."""
    if weekday < 5:
        busy = max(_bell(hour, 7.5, 1.1), 0.85 * _bell(hour, 17.3, 1.6), 0.55 * _bell(hour, 12.0, 3.5))
    else:
        busy = 0.62 * _bell(hour, 13.0, 4.0) + (0.15 * _bell(hour, 21.0, 2.0) if weekday == 5 else 0.0)
    return 0.06 + 0.94 * busy


# Measurement noise of each quantity's sensor: (relative, absolute) standard deviations.
_NOISE: dict[str, tuple[float, float]] = {
    "pm25": (0.05, 0.8), "pm10": (0.06, 1.0), "temperature": (0.0, 0.12), "humidity": (0.0, 0.8),
    "noise": (0.0, 0.8), "water_level": (0.0, 0.008), "rainfall": (0.0, 0.0), "bin_fill": (0.0, 0.9),
    "traffic_count": (0.0, 0.0), "power": (0.008, 0.05),
}  # fmt: skip
_OUTLIER_RATE = 2e-4  # a garbled reading now and then (EMI, a bird on the bin's lid)
_GAP_RATE = 1.5e-3  # a lost radio link for a few minutes


def _soft_cap(value: float, knee: float, span: float) -> float:
    """Leave values below `knee` alone and bend larger ones smoothly towards knee + span."""
    return value if value <= knee else knee + span * math.tanh((value - knee) / span)


@dataclass(slots=True)
class _Device:
    """One device's own random streams and state."""

    rng: random.Random  # the world at the device's place
    meas: random.Random  # the sensor's noise, outliers and gaps
    gain: float  # calibration: every sensor reads a little high or low
    site: float  # the place: one corner of a district is a little dirtier than another
    offset: float
    rating: float  # a lamp's wattage, a counter's share of the road, a bin's popularity
    phase: float  # where an incident's crest wanders at this device
    last_t: float | None = None
    fill: float = 0.0
    rain_tips: int = -1
    gap_until: float = 0.0
    last_values: dict[str, float] = field(default_factory=dict)
    stuck: dict[str, float] | None = None
    drift_sign: float = 1.0


class SignalModel:
    """Deterministic for a given seed; `events` and `truth()` say what the scenario injected and what the world did."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        start_time: float,
        *,
        city: City | None = None,
        devices: Sequence[SimDevice] | None = None,
        horizon_s: float | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.start_time = start_time
        self.horizon_s = horizon_s
        self.city = city or default_city()
        self.devices = tuple(devices) if devices is not None else self.city.devices
        self.events: list[Event] = resolve(
            scenario, self.city, self.devices, seed=seed, start_time=start_time, horizon_s=horizon_s
        )
        self.env = Environment(self.city, seed, start_time, self.events)
        self.episodes = EpisodeTracker()
        self.anomaly_effects: dict[str, float] = {}  # event id -> largest change to the true value so far
        self._districts = {d.slug: d for d in self.city.districts}
        self._state: dict[str, _Device] = {}
        self._by_device: dict[str, list[Event]] = {}
        for event in self.events:
            for device_id in event.devices:
                self._by_device.setdefault(device_id, []).append(event)
        self._traffic_jams = [e for e in self.events if e.incident is not None and e.incident.cause == "traffic_jam"]

    def truth(self) -> list[TruthRecord]:
        """Faults and anomalies as injected, and the incidents the world has had so far."""
        return truth_records(
            self.events,
            self.episodes.episodes,
            self.city,
            scenario=self.scenario.name,
            seed=self.seed,
            start_time=self.start_time,
            horizon_s=self.horizon_s,
            effects=self.anomaly_effects,
        )

    def _device(self, device: SimDevice) -> _Device:
        state = self._state.get(device.device_id)
        if state is None:
            rng = random.Random(f"{self.seed}:{device.device_id}")
            meas = random.Random(f"{self.seed}:{device.device_id}:sensor")
            state = _Device(
                rng,
                meas,
                gain=meas.gauss(1.0, 0.02),
                site=rng.gauss(1.0, 0.05),
                offset=rng.gauss(0.0, 1.0),
                rating=rng.uniform(0.7, 1.3),
                phase=rng.uniform(0, 2 * math.pi),
            )
            state.drift_sign = rng.choice((-1.0, 1.0))
            state.fill = rng.uniform(5, 60)
            self._state[device.device_id] = state
        return state

    # ----------------------------------------------------------------------------- public

    def sample(self, device: SimDevice, now: float) -> dict[str, float]:
        """The device's reading at `now`: the true values, measured, then faults. Empty when it is silent."""
        self.env.advance(now)
        state = self._device(device)
        values = self._clean(device, state, now)
        elapsed = now - self.start_time
        for event in self._by_device.get(device.device_id, ()):
            if event.incident is not None:
                self._incident(event, device, state, values, elapsed)
            elif event.anomaly is not None and event.active(elapsed):
                self._anomaly(event, state, values, now, elapsed)
        self.episodes.observe(device.device_id, device.district, now, values)
        state.last_t = now
        values = self._measure(state, values, now)
        for event in self._by_device.get(device.device_id, ()):
            if event.fault is not None:
                values = self._fault(event, device, state, values, elapsed)
        out: dict[str, float] = {}
        for name, value in values.items():
            q = QUANTITIES[name]
            out[name] = round(min(q.maximum, max(q.minimum, value)), _DECIMALS[name])
        if out:
            state.last_values = out
        return out

    def device_time(self, device: SimDevice, now: float) -> float:
        """The device's own clock: off by the skew while a clock_skew fault is active."""
        elapsed = now - self.start_time
        for event in self._by_device.get(device.device_id, ()):
            if event.fault is not None and event.kind == "clock_skew" and event.active(elapsed):
                return now + (event.fault.magnitude if event.fault.magnitude is not None else 900.0)
        return now

    # ----------------------------------------------------------------------------- the world

    def _clean(self, device: SimDevice, state: _Device, now: float) -> dict[str, float]:
        """The true values at the device's place, before any incident, anomaly or sensor."""
        env, rng = self.env, state.rng
        weather = env.districts[device.district]
        profile = self._districts[device.district].profile
        hour, weekday = env.local_hour(now), env.weekday(now)
        kind = device.kind
        if kind in ("air", "weather"):
            temperature = weather.temperature + 0.3 * state.offset + rng.gauss(0, 0.1)
            humidity = weather.humidity * state.site + rng.gauss(0, 0.5)
            if kind == "weather":
                return {"temperature": temperature, "humidity": humidity}
            busy = traffic_profile(hour, weekday)
            inversion = 0.3 * _bell(hour, 3.5, 3.0) - 0.2 * _bell(hour, 14.0, 2.5)  # low night-time mixing
            washout = 0.35 + 0.65 * math.exp(-weather.wet_slow / 10.0)
            pm = profile.pm25_base * (0.75 + 0.4 * busy + inversion) * weather.pm_factor * weather.regional_pm
            # Haze bends towards ~75 ug/m3: hazy dry-season days reach the unhealthy limit, rarely far past it.
            pm25 = _soft_cap(pm * washout * state.site, 40.0, 35.0) * (1 + max(-0.12, min(0.12, rng.gauss(0, 0.04))))
            pm10 = pm25 * profile.pm10_ratio * (1 + max(-0.2, min(0.2, rng.gauss(0, 0.06))))
            return {"pm25": max(pm25, 1.0), "pm10": max(pm10, pm25), "temperature": temperature, "humidity": humidity}
        if kind == "water":
            variant = device.variant or "river"
            base = (profile.river_base_m if variant == "river" else profile.drain_base_m) + weather.base_water_m
            level = natural_water(max(0.05, base + 0.04 * state.offset), weather.water_rise(variant))
            return {"water_level": max(0.0, level + rng.gauss(0, 0.003))}
        if kind == "rain":
            tips = int(self.env.rain_total(device.district, now) * (1 + 0.05 * state.offset) / 0.2)
            fallen = 0 if state.rain_tips < 0 else tips - state.rain_tips
            state.rain_tips = tips
            return {"rainfall": fallen * 0.2}
        if kind == "noise":
            busy = traffic_profile(hour, weekday)
            weekend_night = 4.0 * _bell(hour, 22.0, 2.0) if weekday in (4, 5) else 0.0
            level = 44 + 20 * busy + profile.noise_offset_db + 2.0 * state.offset + weekend_night
            level += 3.0 * min(1.0, weather.rain_mm_h / 10.0) + self._jam(device.district, now, 4.0)
            since = now - state.last_t if state.last_t is not None else device.period_s
            if rng.random() < 0.01 * min(1.0, since / 60.0):
                level += rng.uniform(6, 16)  # a motorbike, a horn: loud for one reading
            return {"noise": level + rng.gauss(0, 1.2)}
        if kind == "traffic":
            rate = profile.traffic_peak_per_h * traffic_profile(hour, weekday) * state.rating
            rate *= 0.85 if weather.rain_mm_h > 1 else 1.0
            rate *= 1.0 - self._jam(device.district, now, 0.6)
            mean = rate * device.period_s / 3600.0
            return {"traffic_count": max(0.0, round(rng.gauss(mean, 1.2 * math.sqrt(mean + 1))))}
        if kind == "bin":
            return {"bin_fill": self._bin(device, state, now, hour, weekday)}
        if kind == "streetlight":
            on = hour >= 18.1 or hour < 5.9
            rated = 120.0 * state.rating
            power = (rated * (0.6 if hour < 5.0 else 1.0) if on else 1.2) * (1 + rng.gauss(0, 0.004))
            # A lamp struggling to strike at dusk: about one reading in twelve at the usual 5 minutes
            # (scaled to the time since the last reading, so a fast demo does not flicker more).
            since = now - state.last_t if state.last_t is not None else device.period_s
            if 18.1 <= hour < 18.7 and rng.random() < 0.08 * min(1.0, since / 300.0):
                power = rng.uniform(0.1, 0.6)
            return {"power": power}
        return {}

    def _bin(self, device: SimDevice, state: _Device, now: float, hour: float, weekday: int) -> float:
        district = self._districts[device.district]
        if state.last_t is not None:
            dt = now - state.last_t
            activity = 0.3 + 1.2 * _bell(hour, 13.0, 5.0)  # people throw things away by day
            if weekday in district.profile.market_weekdays:
                activity *= 1.9  # market day: the bins near the market fill to the brim
            state.fill += district.profile.bin_fill_per_h * state.rating * activity * dt / 3600.0
            # Emptied when the collection round passed since the last reading.
            collection = district.collection
            local_prev = (state.last_t / 3600.0 + self.city.utc_offset_h) - collection.hour
            local_now = (now / 3600.0 + self.city.utc_offset_h) - collection.hour
            for day in range(math.floor(local_prev / 24) + 1, math.floor(local_now / 24) + 1):
                if (day + 3) % 7 in collection.weekdays:
                    state.fill = state.rng.uniform(1, 4)
            state.fill = min(state.fill, 100.0)  # it overflows: the sensor sees a full bin
        return state.fill

    def _jam(self, district: str, now: float, scale: float) -> float:
        elapsed = now - self.start_time
        strongest = 0.0
        for event in self._traffic_jams:
            if event.district == district and event.incident is not None:
                strongest = max(strongest, event.incident.intensity(elapsed))
        return strongest * scale

    # ----------------------------------------------------------------------------- incidents, anomalies

    def _incident(
        self, event: Event, device: SimDevice, state: _Device, values: dict[str, float], elapsed: float
    ) -> None:
        incident = event.incident
        assert incident is not None
        level = incident.intensity(elapsed)
        name = incident.quantity
        if level <= 0 or name not in values:
            return
        if incident.kind == "streetlight_failure":
            values[name] = 0.15 + state.rng.uniform(0, 0.2)  # the driver's standby draw, nothing lit
            return
        # The crest wanders: slow swell (minutes) and gusts, so an incident is never a flat line.
        swell = 0.04 * math.sin(2 * math.pi * elapsed / 1500.0 + state.phase) + state.rng.gauss(0, 0.015)
        target = incident.level * (0.97 + 0.06 * (state.rating - 0.7) / 0.6) * (1 + swell)
        if incident.kind == "bin_overflow":
            target = incident.level
        values[name] += level * (target - values[name])
        if incident.kind == "pollution" and "pm10" in values:
            ratio = 1.3 if incident.cause == "open_burning" else 1.7  # smoke is mostly fine particles
            values["pm10"] = max(values["pm10"], values["pm25"] * ratio)

    def _anomaly(self, event: Event, state: _Device, values: dict[str, float], now: float, elapsed: float) -> None:
        """Something unusual that stays below every rule's limit (found by anomaly detection or not at all)."""
        anomaly = event.anomaly
        assert anomaly is not None
        name, kind = anomaly.quantity, anomaly.kind
        if name not in values:
            return
        value = values[name]
        if kind == "traffic_collapse":
            values[name] = float(round(value * 0.1))
        elif kind == "night_noise":
            values[name] = max(value, min(72.0, 68.0 + 2.5 * math.sin(elapsed / 300.0) + state.rng.gauss(0, 1.0)))
        elif kind == "lamp_overdraw":
            values[name] = value * 2.0 if value > 20 else value
        elif kind == "gauge_oscillation":
            amplitude = anomaly.magnitude if anomaly.magnitude is not None else 0.25
            values[name] = min(2.3, max(0.0, value + amplitude * math.sin(2 * math.pi * elapsed / 720.0)))
        elif kind == "pattern_change":
            night = _bell(self.env.local_hour(now), 1.0, 3.0) + _bell(self.env.local_hour(now), 25.0, 3.0)
            values[name] = min(value + 12.0 * night, max(value, 48.0))
        # What it changed, before the sensor's noise: the truth's `effect` (a miss with nothing to find).
        change = abs(values[name] - value)
        if change > self.anomaly_effects.get(event.id, 0.0):
            self.anomaly_effects[event.id] = change

    # ----------------------------------------------------------------------------- the sensor

    def _measure(self, state: _Device, values: dict[str, float], now: float) -> dict[str, float]:
        """What the sensor reports of the true values: gain, noise, a rare outlier; nothing in a gap."""
        meas = state.meas
        if now < state.gap_until:
            return {}
        if meas.random() < _GAP_RATE:
            state.gap_until = now + meas.uniform(1, 10) * 60
            return {}
        out: dict[str, float] = {}
        for name, value in values.items():
            relative, absolute = _NOISE[name]
            if relative or absolute:
                value = value * state.gain * (1 + meas.gauss(0, relative)) + meas.gauss(0, absolute)
            if meas.random() < _OUTLIER_RATE:
                value = value * meas.uniform(1.5, 3.0) if meas.random() < 0.7 else value / 3.0
            out[name] = value
        return out

    # ----------------------------------------------------------------------------- faults

    def _fault(
        self, event: Event, device: SimDevice, state: _Device, values: dict[str, float], elapsed: float
    ) -> dict[str, float]:
        fault = event.fault
        assert fault is not None
        if not event.active(elapsed):
            if fault.kind == "stuck":
                state.stuck = None
            return values
        kind, into = fault.kind, elapsed - event.start_s
        if kind == "silence":
            return {}
        if kind == "battery_death":
            # Brown-outs first (readings dropped, values sagging), then nothing ever again.
            if into > 3600 or state.meas.random() < into / 3600:
                return {}
            return {k: v * (1 - 0.1 * into / 3600) for k, v in values.items()}
        if kind == "stuck":
            if state.stuck is None:
                state.stuck = dict(state.last_values) or dict(values)
            return {k: state.stuck.get(k, v) for k, v in values.items()}
        if kind == "drift":
            days = into / _DAY_S
            return {
                k: v + state.drift_sign * days * (fault.magnitude if fault.magnitude is not None else DRIFT_PER_DAY[k])
                for k, v in values.items()
            }
        if kind == "spikes":
            rate = fault.magnitude if fault.magnitude is not None else 0.05
            if state.meas.random() < rate:
                return {k: v * state.meas.uniform(3, 8) + QUANTITIES[k].maximum * 0.02 for k, v in values.items()}
        return values


def now_aligned(interval_s: float) -> float:
    """The current time floored to the reporting interval (tidy timestamps)."""
    return math.floor(time.time() / interval_s) * interval_s

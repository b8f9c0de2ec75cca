"""The simulated city: districts, their character, and the fleet of devices in each, from a YAML file.

A district's `profile` says how it behaves (how polluted, how busy, how fast its bins fill, how
high its river runs); its `fleet` says how many devices of each kind stand in it. Everything here
is plain data and deterministic: the same file always gives the same devices with the same ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "DEFAULT_CITY_FILE",
    "DEFAULT_DISTRICTS",
    "KINDS",
    "City",
    "CityFile",
    "District",
    "DistrictProfile",
    "SimDevice",
    "build_fleet",
    "load_city",
]

CITIES_DIR = Path(__file__).resolve().parent / "cities"
DEFAULT_CITY_FILE = CITIES_DIR / "default.yaml"

Kind = Literal["air", "water", "rain", "noise", "bin", "streetlight", "traffic", "weather"]

# What each kind of device measures (wire quantity names) and how often it reports on its own.
KINDS: dict[str, tuple[str, ...]] = {
    "air": ("pm25", "pm10", "temperature", "humidity"),
    "water": ("water_level",),
    "rain": ("rainfall",),
    "noise": ("noise",),
    "bin": ("bin_fill",),
    "streetlight": ("power",),
    "traffic": ("traffic_count",),
    "weather": ("temperature", "humidity"),
}
DEFAULT_PERIODS_S: dict[str, float] = {
    "air": 60,
    "water": 60,
    "rain": 60,
    "noise": 60,
    "bin": 900,
    "streetlight": 300,
    "traffic": 300,
    "weather": 300,
}
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DistrictProfile(BaseModel):
    """How a district behaves; every field has a plausible default for a mixed urban district."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pm25_base: float = Field(default=22.0, gt=0, description="typical PM2.5 in ug/m3")
    pm10_ratio: float = Field(default=1.6, ge=1, description="PM10 / PM2.5 (coarse dust)")
    traffic_peak_per_h: float = Field(default=900.0, ge=0, description="vehicles per hour at a counter at rush hour")
    noise_offset_db: float = Field(default=0.0, description="louder (+) or quieter (-) than a mixed district")
    bin_fill_per_h: float = Field(default=1.2, gt=0, description="average bin fill in % per hour")
    heat_offset_c: float = Field(default=0.0, description="urban heat island (+) or hills (-)")
    river_base_m: float = Field(default=0.8, ge=0, description="river gauge level in dry weather")
    drain_base_m: float = Field(default=0.3, ge=0, description="drain level in dry weather")
    market_days: tuple[Weekday, ...] = Field(default=(), description="market days: bins fill almost twice as fast")

    @property
    def market_weekdays(self) -> frozenset[int]:
        return frozenset(_WEEKDAYS.index(d) for d in self.market_days)


class Collection(BaseModel):
    """When the bins of a district are emptied: at `hour` local time on `days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hour: float = Field(default=6.0, ge=0, lt=24)
    days: tuple[Weekday, ...] = _WEEKDAYS

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(_WEEKDAYS.index(d) for d in self.days)


class DistrictSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    name: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    profile: DistrictProfile = DistrictProfile()
    collection: Collection = Collection()
    fleet: dict[Kind, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _counts(self) -> DistrictSpec:
        if any(n < 0 or n > 99 for n in self.fleet.values()):
            raise ValueError(f"{self.slug}: device counts are 0..99 per kind")
        return self


class CityFile(BaseModel):
    """The YAML file's schema; validated before anything is built."""

    model_config = ConfigDict(extra="forbid")

    name: str
    utc_offset_h: float = Field(default=7.0, ge=-12, le=14, description="local time, for daily cycles")
    periods_s: dict[Kind, float] = Field(default_factory=dict, description="reporting period per kind")
    districts: list[DistrictSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> CityFile:
        slugs = [d.slug for d in self.districts]
        if len(set(slugs)) != len(slugs):
            raise ValueError("district slugs must be unique")
        if any(p <= 0 for p in self.periods_s.values()):
            raise ValueError("reporting periods must be positive")
        return self


@dataclass(frozen=True, slots=True)
class District:
    slug: str
    name: str
    lat: float
    lon: float
    profile: DistrictProfile = field(default_factory=DistrictProfile)
    collection: Collection = field(default_factory=Collection)


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated device. `variant` refines the kind (a water gauge on a river or in a drain)."""

    device_id: str
    district: str
    kind: str
    quantities: tuple[str, ...]
    lat: float
    lon: float
    variant: str = ""
    period_s: float = 60.0


@dataclass(frozen=True, slots=True)
class City:
    name: str
    utc_offset_h: float
    districts: tuple[District, ...]
    devices: tuple[SimDevice, ...]

    def district(self, slug: str) -> District:
        for district in self.districts:
            if district.slug == slug:
                return district
        raise KeyError(f"no district {slug!r} in {self.name} (districts: {', '.join(self.slugs)})")

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(d.slug for d in self.districts)

    def select(self, count: int | None) -> tuple[SimDevice, ...]:
        """`count` devices spread evenly over districts and kinds (all when None), in a stable order."""
        if count is None or count >= len(self.devices):
            return self.devices
        if count < 1:
            raise ValueError("the number of devices must be at least 1")
        groups: dict[tuple[str, str], list[SimDevice]] = {}
        for device in self.devices:
            groups.setdefault((device.kind, device.district), []).append(device)
        chosen: list[SimDevice] = []
        depth = 0
        while len(chosen) < count:
            for group in groups.values():
                if depth < len(group) and len(chosen) < count:
                    chosen.append(group[depth])
            depth += 1
        keep = set(chosen)
        return tuple(d for d in self.devices if d in keep)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance; the city is small, so an equirectangular approximation is plenty."""
    lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(lat)
    dy = math.radians(b[0] - a[0])
    return 6371.0 * math.hypot(dx, dy)


def _layout(spec: DistrictSpec, index: int) -> tuple[float, float]:
    """Devices on a spiral around the district centre: about 150 m apart, within ~1.5 km."""
    if index == 0:
        return spec.lat, spec.lon
    angle = index * 2.399963  # the golden angle spreads points evenly
    radius = 0.0014 * math.sqrt(index)
    return round(spec.lat + radius * math.sin(angle), 6), round(spec.lon + radius * math.cos(angle), 6)


def _build(file: CityFile) -> City:
    districts = tuple(District(d.slug, d.name, d.lat, d.lon, d.profile, d.collection) for d in file.districts)
    periods: dict[str, float] = dict(DEFAULT_PERIODS_S)
    periods.update((str(k), v) for k, v in file.periods_s.items())
    devices: list[SimDevice] = []
    for spec in file.districts:
        slot = 0
        for kind, count in spec.fleet.items():
            for i in range(count):
                lat, lon = _layout(spec, slot)
                slot += 1
                variant = ("river" if i % 2 == 0 else "drain") if kind == "water" else ""
                devices.append(
                    SimDevice(
                        device_id=f"{spec.slug}-{kind}-{i + 1:02d}",
                        district=spec.slug,
                        kind=kind,
                        quantities=KINDS[kind],
                        lat=lat,
                        lon=lon,
                        variant=variant,
                        period_s=periods[kind],
                    )
                )
    return City(file.name, file.utc_offset_h, districts, tuple(devices))


def load_city(path: str | Path | None = None) -> City:
    """The city in a YAML file (the shipped default city when None). Errors name the file and the field."""
    path = DEFAULT_CITY_FILE if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no city file {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text())
        return _build(CityFile.model_validate(data))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"city file {path}: {exc}") from None


_DEFAULT: City | None = None


def default_city() -> City:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_city()
    return _DEFAULT


DEFAULT_DISTRICTS: tuple[District, ...] = default_city().districts


def build_fleet(city: City | None = None, *, kinds: tuple[str, ...] | None = None) -> list[SimDevice]:
    """Every device of the city (the default city when None), optionally only some kinds."""
    devices = (city or default_city()).devices
    return [d for d in devices if kinds is None or d.kind in kinds]

"""The edge agent's configuration: a TOML file on the node, and live changes from the broker.

Everything is validated before anything starts: a typo in a field name, an unknown driver or a
sampling interval of zero stops `citysense edge run` with a message naming the field. The
remote configuration (retained on `cs/v1/{id}/config`) may change only sampling and draining,
never ports or credentials, so a bad message can never cut a node off.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from citysense import wire
from citysense.errors import CitysenseError
from citysense.settings import BrokerSettings

__all__ = [
    "AgentConfig",
    "Aggregate",
    "ConfigError",
    "QueueConfig",
    "RemoteConfig",
    "SensorConfig",
    "load_config",
    "parse_remote_config",
]

Aggregate = Literal["median", "mean", "sum", "last", "max"]


class ConfigError(CitysenseError):
    """The configuration file or a remote configuration message is not usable."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SensorBase(_Strict):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    # Seconds between samples, and how many samples make one report (aggregated into one value).
    interval_s: float = Field(default=1.0, ge=0.05, le=86_400)
    samples: int = Field(default=10, ge=1, le=10_000)
    aggregate: Aggregate = "median"


class Sds011Config(_SensorBase):
    driver: Literal["sds011"]
    port: str = "/dev/serial0"


class Bme280Config(_SensorBase):
    driver: Literal["bme280"]
    bus: int = Field(default=1, ge=0)
    address: int = Field(default=0x76, ge=0x03, le=0x77)


class UltrasonicConfig(_SensorBase):
    driver: Literal["ultrasonic"]
    port: str = "/dev/serial0"
    # Height of the sensor face above the gauge datum: level = mount height - distance to the water.
    mount_height_m: float = Field(gt=0, le=100)
    min_distance_mm: int = Field(default=30, ge=0)
    max_distance_mm: int = Field(default=4500, gt=0)


class RainGaugeConfig(_SensorBase):
    driver: Literal["rain_gauge"]
    pin: int = Field(ge=0, le=53)
    mm_per_tip: float = Field(default=0.2794, gt=0)
    aggregate: Aggregate = "sum"


class VirtualConfig(_SensorBase):
    driver: Literal["virtual"]
    quantity: str
    base: float = 0.0
    amplitude: float = 0.0
    period_s: float = Field(default=3600.0, gt=0)
    noise: float = Field(default=0.0, ge=0)
    seed: int = 0

    @field_validator("quantity")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in wire.QUANTITIES:
            raise ValueError(f"unknown quantity {value!r}; known: {', '.join(wire.QUANTITIES)}")
        return value


SensorConfig = Annotated[
    Sds011Config | Bme280Config | UltrasonicConfig | RainGaugeConfig | VirtualConfig,
    Field(discriminator="driver"),
]


class QueueConfig(_Strict):
    """The on-disk store-and-forward queue."""

    path: Path = Path("/var/lib/citysense-edge/queue.db")
    # Packs kept while offline; beyond it the oldest are dropped (and counted). 1 pack a second: ~28 h per 100k.
    max_packs: int = Field(default=100_000, ge=10)
    # Backlog packs sent per second after a reconnect; live readings go out beside it, not behind it.
    drain_per_s: float = Field(default=50.0, gt=0, le=10_000)
    max_in_flight: int = Field(default=100, ge=1, le=65_000)
    # fsync every pack, so a power cut loses nothing (see edge/queue.py). Off only where there is no
    # power to cut: the simulators run hundreds of queues at many times real time on one machine.
    durable: bool = True


class BackoffConfig(_Strict):
    initial_s: float = Field(default=1.0, gt=0)
    max_s: float = Field(default=60.0, gt=0)


class AgentConfig(_Strict):
    device_id: str
    broker: BrokerSettings = BrokerSettings()
    queue: QueueConfig = QueueConfig()
    reconnect: BackoffConfig = BackoffConfig()
    # Seconds between health updates on the retained status topic.
    health_interval_s: float = Field(default=60.0, ge=1)
    # A file holding the battery level in percent, for a HAT the kernel does not know; unset, the
    # agent reads the kernel's /sys/class/power_supply (see edge.health.BatteryGauge).
    battery_file: Path | None = None
    # Empty only for an agent fed through `Agent.submit` (a simulated device); a node's file needs one.
    sensors: list[SensorConfig] = Field(default_factory=list)

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if not wire.is_valid_device_id(value):
            raise ValueError("device_id: letters, digits, '-', '_' or '.', at most 64")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> AgentConfig:
        names = [s.name for s in self.sensors]
        if len(set(names)) != len(names):
            raise ValueError(f"sensor names must be unique: {names}")
        return self

    @property
    def username(self) -> str:
        """A device logs in with its own id unless told otherwise: the broker ACL keys on it."""
        return self.broker.username or self.device_id


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())


def load_config(path: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    if not config.sensors:
        raise ConfigError(f"{path}: sensors: a node needs at least one [[sensors]] table")
    return config


class SensorTuning(_Strict):
    interval_s: float | None = Field(default=None, ge=0.05, le=86_400)
    samples: int | None = Field(default=None, ge=1, le=10_000)
    aggregate: Aggregate | None = None


class RemoteConfig(_Strict):
    """What operators may change on a running node, by publishing a retained JSON message."""

    version: int = Field(ge=0)
    sensors: dict[str, SensorTuning] = Field(default_factory=dict)
    drain_per_s: float | None = Field(default=None, gt=0, le=10_000)
    health_interval_s: float | None = Field(default=None, ge=1)


def parse_remote_config(payload: bytes, config: AgentConfig) -> RemoteConfig:
    """Validate a remote configuration against the running one; ConfigError says what is wrong."""
    try:
        remote = RemoteConfig.model_validate_json(payload)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    unknown = set(remote.sensors) - {s.name for s in config.sensors}
    if unknown:
        raise ConfigError(f"unknown sensors: {', '.join(sorted(unknown))}")
    return remote


def apply_remote(config: AgentConfig, remote: RemoteConfig) -> AgentConfig:
    """The running configuration with the remote changes applied (a new object; the old one is kept)."""
    sensors = []
    for sensor in config.sensors:
        tuning = remote.sensors.get(sensor.name)
        changes = {} if tuning is None else tuning.model_dump(exclude_none=True)
        sensors.append(sensor.model_copy(update=changes))
    queue = (
        config.queue
        if remote.drain_per_s is None
        else config.queue.model_copy(update={"drain_per_s": remote.drain_per_s})
    )
    update: dict[str, object] = {"sensors": sensors, "queue": queue}
    if remote.health_interval_s is not None:
        update["health_interval_s"] = remote.health_interval_s
    return config.model_copy(update=update)

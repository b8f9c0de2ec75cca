"""From a sensor's configuration to its driver; bus libraries load only for the drivers used."""

from __future__ import annotations

from edge.config import (
    Bme280Config,
    RainGaugeConfig,
    Sds011Config,
    SensorConfig,
    UltrasonicConfig,
    VirtualConfig,
)
from edge.drivers.base import Driver, DriverError
from edge.drivers.virtual import VirtualDriver, wave

__all__ = ["build_driver"]


def build_driver(config: SensorConfig) -> Driver:
    """The driver for one configured sensor; DriverError names the sensor when its hardware is missing."""
    try:
        if isinstance(config, Sds011Config):
            from edge.drivers.sds011 import Sds011

            return Sds011(config.port)
        if isinstance(config, Bme280Config):
            from edge.drivers.bme280 import Bme280

            return Bme280(bus=config.bus, address=config.address)
        if isinstance(config, UltrasonicConfig):
            from edge.drivers.ultrasonic import UltrasonicLevel

            return UltrasonicLevel(
                config.port,
                mount_height_m=config.mount_height_m,
                min_distance_mm=config.min_distance_mm,
                max_distance_mm=config.max_distance_mm,
            )
        if isinstance(config, RainGaugeConfig):
            from edge.drivers.rain_gauge import RainGauge

            return RainGauge(pin=config.pin, mm_per_tip=config.mm_per_tip)
        if isinstance(config, VirtualConfig):
            signal = wave(
                config.quantity,
                base=config.base,
                amplitude=config.amplitude,
                period_s=config.period_s,
                noise=config.noise,
                seed=config.seed,
            )
            return VirtualDriver((config.quantity,), signal)
    except DriverError as exc:
        raise DriverError(f"sensor {config.name!r}: {exc}") from exc
    except (OSError, ImportError, RuntimeError) as exc:  # serial port, I2C bus or GPIO missing
        raise DriverError(f"sensor {config.name!r} ({config.driver}): {exc}") from exc
    raise DriverError(f"sensor {config.name!r}: no driver for {config.driver!r}")

"""Sensor drivers behind one small interface (`Driver`).

Real drivers (SDS011, BME280, ultrasonic level, rain gauge) import their bus libraries when they
are built, so this package imports on any machine.
"""

from edge.drivers.base import Closeable, Driver, DriverError
from edge.drivers.virtual import VirtualDriver

__all__ = ["Closeable", "Driver", "DriverError", "VirtualDriver"]

"""Sensor drivers behind one small interface (`Driver`)."""

from edge.drivers.base import Driver
from edge.drivers.virtual import VirtualDriver

__all__ = ["Driver", "VirtualDriver"]

"""`citysense simulate` as a service: register the fleet, then publish until stopped."""

from __future__ import annotations

import logging
import time

from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.settings import SimulateSettings
from simulators.city import build_fleet
from simulators.fleet import Fleet
from simulators.scenario import Scenario
from simulators.signals import SignalModel

__all__ = ["SimulatorService"]

log = logging.getLogger(__name__)


class SimulatorService:
    def __init__(self, settings: SimulateSettings, scenario: Scenario, *, devices: int | None, seed: int) -> None:
        fleet = build_fleet()
        if devices is not None:
            if devices < 1:
                raise ValueError("--devices must be at least 1")
            fleet = fleet[:devices]
        self.settings = settings
        self.devices = fleet
        self.fleet = Fleet(
            fleet, SignalModel(scenario, seed, time.time()), settings.broker, interval_s=settings.interval_s
        )

    def start(self) -> None:
        # Provisioning stands in here: the simulated devices register themselves with the city.
        register_devices(
            connect(self.settings.tickets_url),
            (DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in self.devices),
        )
        self.fleet.start()

    def stop(self) -> None:
        self.fleet.stop()

"""The simulated fleet as a long-running service (what `citysense demo` runs): real time, over MQTT,
each device an edge agent with its disk queue in `data_dir/sim-queues/`."""

from __future__ import annotations

import logging

from citysense.db import connect
from citysense.db.devices import DeviceInfo, register_devices
from citysense.errors import CitysenseError
from citysense.settings import SimulateSettings
from simulators.city import City, SimDevice, default_city
from simulators.fleet import Fleet
from simulators.scenario import Scenario
from simulators.signals import SignalModel, now_aligned
from simulators.sinks import MqttSink

__all__ = ["SimulatorService", "register"]

log = logging.getLogger(__name__)


def register(tickets_url: str, devices: list[SimDevice]) -> None:
    """Provisioning stands in here: the simulated devices register themselves with the city."""
    try:
        register_devices(
            connect(tickets_url),
            (DeviceInfo(d.device_id, d.district, d.kind, d.lat, d.lon) for d in devices),
        )
    except Exception as exc:  # SQLAlchemy and Alembic errors alike: say where, keep the cause
        raise CitysenseError(f"could not register the simulated devices in {tickets_url}: {exc}") from exc


class SimulatorService:
    """`settings.interval_s`, when set explicitly, makes every device report at that interval."""

    def __init__(
        self,
        settings: SimulateSettings,
        scenario: Scenario,
        *,
        devices: int | None,
        seed: int,
        city: City | None = None,
    ) -> None:
        city = city or default_city()
        self.settings = settings
        self.devices = list(city.select(devices))
        interval = settings.interval_s if "interval_s" in settings.model_fields_set else None
        model = SignalModel(scenario, seed, now_aligned(interval or 1.0), city=city, devices=self.devices)
        self.fleet = Fleet(self.devices, model, MqttSink.for_settings(settings), interval_s=interval)

    def start(self) -> None:
        register(self.settings.tickets_url, self.devices)
        self.fleet.start()

    def stop(self) -> None:
        self.fleet.stop()

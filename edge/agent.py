"""The edge agent: sensors -> sampler -> disk queue -> MQTT link, plus health, remote config, watchdog.

Start order matters for the reliability chain: the queue opens first (a backlog from before a
power cut is there at once), then sampling, then the link. Stopping reverses it, so the last
reports are queued before the link says goodbye.

Every report enters the chain through `submit()`: the sampler calls it, and so do the simulators,
whose devices are agents without sensors, fed readings of a simulated city.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from citysense import __version__, wire
from edge.config import AgentConfig, ConfigError, apply_remote, parse_remote_config
from edge.drivers.base import Closeable, Driver
from edge.drivers.registry import build_driver
from edge.health import POWER_SUPPLY, BatteryGauge, cpu_temperature_c, disk_free_mb
from edge.link import Link
from edge.queue import DiskQueue
from edge.sampler import Sampler
from edge.systemd import notify, watchdog_period_s

__all__ = ["Agent"]

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        drivers: Mapping[str, Driver] | None = None,
        battery: BatteryGauge | None = None,
    ) -> None:
        self.file_config = config
        self.config = config
        self.queue = DiskQueue(config.queue.path, max_packs=config.queue.max_packs, durable=config.queue.durable)
        built: dict[str, Driver] = dict(drivers) if drivers is not None else {}
        try:
            for sensor in config.sensors:
                if sensor.name not in built:
                    built[sensor.name] = build_driver(sensor)
        except Exception:
            self._close_drivers(built)
            self.queue.close()
            raise
        self.drivers = built
        self.sampler = Sampler(config.device_id, config.sensors, built, self.submit)
        # A simulated device (an agent without sensors) must not report the battery of the machine
        # that runs the simulation: only a node reads the kernel's power supplies.
        self.battery = battery or BatteryGauge(
            file=config.battery_file, power_supply=POWER_SUPPLY if config.sensors else None
        )
        self.link = Link(config, self.queue, status=self.health, on_config=self.apply_remote_config)
        self.config_version: int | None = None
        self.config_error: str | None = None
        self.readings_queued = 0
        self._started = time.monotonic()
        self._stopped = threading.Event()

    @property
    def device_id(self) -> str:
        return self.config.device_id

    def submit(self, readings: Sequence[wire.Reading]) -> None:
        """Pack one report and put it on the disk queue; the link publishes it at once when connected.

        When this returns the pack is on disk (or, with `queue.durable = false`, with the OS): from
        here the reliability chain holds it until the broker acknowledges it. Raises what the
        queue raises (a full disk), so the caller decides whether to go on.
        """
        self.queue.put(wire.build_pack(self.device_id, readings), len(readings))
        self.readings_queued += len(readings)
        self.link.wake()

    def health(self) -> dict[str, Any]:
        """The body of the retained online status: enough to tell a sick node from a silent sensor."""
        counters = self.queue.counters()
        frames_rejected = sum(
            int(getattr(driver, "counters", {}).get("frames_rejected", 0)) for driver in self.drivers.values()
        )
        return {
            "agent_version": __version__,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "cpu_temp_c": cpu_temperature_c(),
            "disk_free_mb": disk_free_mb(self.queue.path),
            "battery_pct": self.battery.read(),
            "queue_depth": counters["depth"],
            "dropped_readings": counters["dropped_readings"],
            "sensor_errors": dict(self.sampler.errors),
            "frames_rejected": frames_rejected,
            "config_version": self.config_version,
            "config_error": self.config_error,
        }

    def apply_remote_config(self, payload: bytes) -> None:
        """Validate and apply a remote configuration; a bad one is refused and the running one kept."""
        try:
            remote = parse_remote_config(payload, self.file_config)
        except ConfigError as exc:
            self.config_error = f"refused: {exc}"
            log.warning("remote configuration refused, keeping version %s: %s", self.config_version, exc)
            return
        self.config = apply_remote(self.file_config, remote)
        self.sampler.reconfigure(self.config.sensors)
        self.link.update(self.config)
        self.config_version, self.config_error = remote.version, None
        log.info("remote configuration version %d applied", remote.version)

    def start(self) -> None:
        if self.queue.depth:
            log.info("%d packs queued from before the restart", self.queue.depth)
        self.sampler.start()
        self.link.start()
        notify("READY=1")

    def stop(self) -> None:
        notify("STOPPING=1")
        self._stopped.set()
        self.sampler.stop()
        self.link.stop()
        self._close_drivers(self.drivers)
        self.queue.close()

    def run_until(self, stop: threading.Event) -> None:
        """Block until `stop` is set, pinging the systemd watchdog only while both threads live."""
        period = watchdog_period_s() or 5.0
        while not stop.wait(period):
            if self.sampler.alive and self.link.alive:
                link = "up" if self.link.connected.is_set() else "down"
                notify(f"WATCHDOG=1\nSTATUS=queue {self.queue.depth} packs, link {link}")
            else:
                log.error("a worker thread died; withholding the watchdog ping so systemd restarts the agent")

    @staticmethod
    def _close_drivers(drivers: Mapping[str, Driver]) -> None:
        for driver in drivers.values():
            if isinstance(driver, Closeable):
                try:
                    driver.close()
                except Exception:
                    log.exception("closing a driver failed")

"""Where a simulated fleet's readings go: MQTT through the edge agent's own code, or the store directly.

A sink takes one device's readings at a time (`send`), can be asked to make sure everything sent
so far has arrived (`sync`: the broker acknowledged it, or the store committed it) and is closed
at the end. The MQTT sink makes every device an `edge.agent.Agent`, the code a lamp-post node runs:
its readings are packed and put on its own disk queue (`Agent.submit`), and its link publishes
them at QoS 1 under its own login, reconnects with backoff after a broker outage and drains what
was queued meanwhile. Buffering and reconnecting are exercised for real, not imitated.
"""

from __future__ import annotations

import logging
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from citysense.errors import BrokerUnavailableError
from citysense.settings import BrokerSettings, CommonSettings
from citysense.timeseries.base import DeviceTags
from citysense.wire import Reading
from edge.agent import Agent
from edge.config import AgentConfig, BackoffConfig, QueueConfig
from simulators.city import SimDevice

__all__ = ["QUEUES_DIR", "CollectSink", "MqttSink", "Sink", "StoreSink"]

log = logging.getLogger(__name__)

# Under the data folder: one SQLite queue per simulated device, as each node has on its SD card.
QUEUES_DIR = "sim-queues"
# Descriptors per simulated device: MQTT socket, wake-up pipe (2), SQLite database and its WAL.
_FDS_PER_DEVICE = 5


class Sink(Protocol):
    def open(self, devices: Sequence[SimDevice]) -> None: ...
    def send(self, device: SimDevice, readings: list[Reading]) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


class MqttSink:
    """One edge agent per device (its own disk queue, login, last will and retained status), as on the street.

    The queues live in `queue_dir`, one SQLite file per device (default: a temporary folder, removed
    at close). What the broker had not acknowledged at close stays there, and the next run through
    the same folder delivers it first, as a node does after a power cut.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        queue_dir: Path | None = None,
        *,
        connect_timeout_s: float = 10.0,
        sync_timeout_s: float = 30.0,
    ) -> None:
        # A device logs in as itself (the broker's ACL keys on the username), with the shared password.
        self.broker = broker.model_copy(update={"username": None})
        self.queue_dir = queue_dir
        self.connect_timeout_s = connect_timeout_s
        self.sync_timeout_s = sync_timeout_s
        self.agents: dict[str, Agent] = {}
        self._temporary: Path | None = None

    @classmethod
    def for_settings(cls, settings: CommonSettings) -> MqttSink:
        """The sink of `citysense simulate` and the demo: the configured broker, queues in the data folder."""
        return cls(settings.broker, settings.data_dir / QUEUES_DIR)

    def open(self, devices: Sequence[SimDevice]) -> None:
        """Start every device's agent, then wait until they are connected (a broker nobody reaches is an error)."""
        queue_dir = self.queue_dir
        if queue_dir is None:
            queue_dir = self._temporary = Path(tempfile.mkdtemp(prefix="citysense-sim-queues-"))
        _allow_descriptors(len(devices) * _FDS_PER_DEVICE + 256)
        try:
            for device in devices:
                agent = Agent(self._config(device, queue_dir))
                self.agents[device.device_id] = agent
                agent.start()
            self._wait_connected()
        except BaseException:
            self._stop_agents()
            raise

    def _config(self, device: SimDevice, queue_dir: Path) -> AgentConfig:
        return AgentConfig(
            device_id=device.device_id,
            broker=self.broker,
            # No fsync per pack: hundreds of queues at many times real time would wait on the disk.
            queue=QueueConfig(path=queue_dir / f"{device.device_id}.db", durable=False),
            # Simulated time runs fast: a minute between attempts would stall an accelerated run.
            reconnect=BackoffConfig(initial_s=0.5, max_s=5.0),
        )

    def _wait_connected(self) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        offline = [a for a in self.agents.values() if not a.link.connected.wait(max(0.0, deadline - time.monotonic()))]
        if not offline:
            return
        if len(offline) == len(self.agents):
            reason = offline[0].link.counters.last_error or "no answer"
            raise BrokerUnavailableError(f"cannot reach MQTT broker at {self.broker.url}: {reason}")
        log.warning(
            "%d of %d devices not connected after %.0fs; their readings wait in their queues",
            len(offline), len(self.agents), self.connect_timeout_s,
        )  # fmt: skip

    def send(self, device: SimDevice, readings: list[Reading]) -> None:
        self.agents[device.device_id].submit(readings)

    def sync(self) -> None:
        """Wait until every device's queue is empty: the broker acknowledged every pack sent so far.

        Keeps an accelerated run from racing ahead of the broker. After `sync_timeout_s` it warns
        and returns; what is left stays queued and goes out when the broker takes it.
        """
        deadline = time.monotonic() + self.sync_timeout_s
        waiting = [a for a in self.agents.values() if not a.queue.wait_empty(max(0.0, deadline - time.monotonic()))]
        if waiting:
            log.warning(
                "%d devices still hold %d packs after %.0fs (is the broker up?); they stay queued",
                len(waiting), sum(a.queue.depth for a in waiting), self.sync_timeout_s,
            )  # fmt: skip

    def close(self) -> None:
        """Deliver what is queued (up to the sync timeout), then stop every agent: offline statuses."""
        try:
            if self.agents:
                self.sync()
        finally:
            self._stop_agents()

    def _stop_agents(self) -> None:
        agents, self.agents = list(self.agents.values()), {}
        # In parallel: each goodbye waits for the broker's PUBACK of the offline status.
        with ThreadPoolExecutor(max_workers=32, thread_name_prefix="sim-stop") as pool:
            left = sum(pool.map(_stop, agents))
        if left and self._temporary is None:
            log.warning("%d packs left undelivered in %s; the next run sends them first", left, self.queue_dir)
        elif left:
            log.warning("%d packs left undelivered, lost with the temporary queue folder", left)
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None


def _stop(agent: Agent) -> int:
    """Stop one agent; returns the packs left in its queue."""
    try:
        agent.stop()
    except Exception:
        log.exception("%s: stopping its agent failed", agent.device_id)
    return agent.queue.depth


def _allow_descriptors(needed: int) -> None:
    """Raise this process's open-file limit to what the fleet holds (1024 is a common default)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning("open-file limit %d is below the %d this fleet needs; raise it (ulimit -n)", target, needed)


class StoreSink:
    """Writes straight into the time-series store in large batches (history backfills, evaluation)."""

    def __init__(self, url: str, *, batch: int = 20_000) -> None:
        from citysense.timeseries import open_store

        self.url = url
        self.store = open_store(url)
        self.batch = batch
        self.stored = 0
        self._buffer: list[Reading] = []
        self._tags: dict[str, DeviceTags] = {}

    def open(self, devices: Sequence[SimDevice]) -> None:
        # What ingest adds from the registry, so backfilled history groups by district and kind too.
        self._tags = {d.device_id: DeviceTags(d.district, d.kind, d.lat, d.lon) for d in devices}

    def send(self, device: SimDevice, readings: list[Reading]) -> None:
        self._buffer.extend(readings)
        if len(self._buffer) >= self.batch:
            self.sync()

    def sync(self) -> None:
        if self._buffer:
            self.stored += self.store.write(self._buffer, devices=self._tags)
            self._buffer = []

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self.store.close()


class CollectSink:
    """Keeps every reading in memory, in order (for tests and small tools)."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def open(self, devices: Sequence[SimDevice]) -> None:
        return None

    def send(self, device: SimDevice, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def sync(self) -> None:
        return None

    def close(self) -> None:
        return None

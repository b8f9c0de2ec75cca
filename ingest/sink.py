"""The sink: write a batch to the time-series store until it takes it.

Retryable store errors (server down, database locked) are retried with capped exponential
back-off and counted, for as long as it takes: meanwhile nothing is acknowledged, so the MQTT
window fills and the broker holds the rest. A fatal error (refused credentials, a request the
server will always refuse) is raised: the worker stops without acknowledging.
"""

from __future__ import annotations

import logging
import threading
import time

from citysense.errors import StoreError
from citysense.timeseries import TimeSeriesStore
from ingest.counters import IngestCounters
from ingest.processors import Batch

__all__ = ["SinkStoppedError", "StoreSink"]

log = logging.getLogger(__name__)


class SinkStoppedError(Exception):
    """The worker was asked to stop while the store was still failing: the batch stays unacknowledged."""


class StoreSink:
    def __init__(
        self,
        store: TimeSeriesStore,
        counters: IngestCounters,
        stopping: threading.Event,
        *,
        first_delay_s: float = 0.1,
        max_delay_s: float = 5.0,
    ) -> None:
        self.store = store
        self.counters = counters
        self.stopping = stopping
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        # When the store began refusing writes (time.monotonic()), None while it takes them.
        self.failing_since: float | None = None
        self.last_error = ""

    def write(self, batch: Batch) -> int:
        """The number of new readings, once the store has durably taken the whole batch."""
        delay = self.first_delay_s
        while True:
            try:
                if batch.tags:
                    stored = self.store.write(batch.readings, devices=batch.tags)
                else:
                    stored = self.store.write(batch.readings)
                self.failing_since = None
                return stored
            except StoreError as exc:
                if not exc.retryable:
                    log.error("store refused a batch for good, stopping without acknowledging: %s", exc)
                    raise
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.last_error = str(exc)
                self.counters.add(store_retries=1)
                log.warning("store write failed, retrying in %.1fs: %s", delay, exc)
            if self.stopping.wait(delay):
                raise SinkStoppedError("stopped while the store was failing")
            delay = min(delay * 2, self.max_delay_s)

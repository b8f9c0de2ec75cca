"""Retention: a background thread that asks the store to drop readings older than the configured age.

It runs beside ingest, never in its path: SQLite deletes one series per short transaction,
InfluxDB is told its retention policy once and expires whole shards itself.
"""

from __future__ import annotations

import logging
import threading

from citysense.errors import StoreError
from citysense.timeseries import TimeSeriesStore

__all__ = ["RetentionTask"]

log = logging.getLogger(__name__)


class RetentionTask:
    def __init__(self, store: TimeSeriesStore, *, max_age_s: float, every_s: float) -> None:
        self.store = store
        self.max_age_s = max_age_s
        self.every_s = every_s
        self.removed = 0
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ingest-retention", daemon=True)
        self._thread.start()

    def run_once(self) -> int:
        removed = self.store.expire(self.max_age_s)
        self.removed += removed
        self.runs += 1
        if removed:
            log.info("retention removed %d readings older than %.0fs", removed, self.max_age_s)
        return removed

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except StoreError as exc:
                log.warning("retention run failed, trying again in %.0fs: %s", self.every_s, exc)
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

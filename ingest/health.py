"""Ingest's own health as series in the time-series store, where Grafana can see it.

A background thread, never in the readings' path: the worker only counts (its rejects by reason,
and once per batch the reading time of the batch's last stored reading). Every `sample_s` this
samples the lag, now minus the reading time of the newest stored reading; every `every_s` it
writes, as health points of scope `ingest` keyed by the worker's name and the metric:

- `lag_p50_s`, `lag_max_s`: the median and the largest lag sampled in the window (written once a
  reading has been stored);
- `rejected`: records or messages refused in the window, all reasons; `rejected.<reason>`: the same
  per reason, for every reason seen since the start (0 in a quiet window, so the series are continuous).

The lag is a freshness figure: it also grows when devices fall silent, not only when ingest falls
behind; the Prometheus `citysense_ingest_lag_seconds` is the latter (arrival to acknowledgement).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import Counter

from citysense.errors import StoreError
from citysense.timeseries import HealthPoint, TimeSeriesStore
from ingest.counters import IngestCounters

__all__ = ["HealthReporter"]

log = logging.getLogger(__name__)


class HealthReporter:
    def __init__(
        self, store: TimeSeriesStore, counters: IngestCounters, *, worker: str, every_s: float, sample_s: float = 1.0
    ) -> None:
        self.store, self.counters, self.worker = store, counters, worker
        self.every_s, self.sample_s = every_s, min(sample_s, every_s)
        self.written = 0
        self._lags: list[float] = []
        self._reported: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ingest-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()  # the last window's rejects are not lost on a normal stop

    def sample(self, now_ms: int | None = None) -> None:
        newest = self.counters.snapshot()["newest_ms"]
        if newest:
            now_ms = int(time.time() * 1000) if now_ms is None else now_ms
            self._lags.append(max(0.0, (now_ms - newest) / 1000))

    def points(self, now_ms: int) -> list[HealthPoint]:
        """The window's points; resets the window."""
        rejected = Counter(self.counters.snapshot()["rejected"])
        delta = {reason: rejected[reason] - self._reported[reason] for reason in rejected}
        self._reported = rejected
        found = [self._point("rejected", sum(delta.values()), now_ms)]
        found += [self._point(f"rejected.{reason}", n, now_ms) for reason, n in sorted(delta.items())]
        if self._lags:
            found += [
                self._point("lag_p50_s", statistics.median(self._lags), now_ms),
                self._point("lag_max_s", max(self._lags), now_ms),
            ]
            self._lags = []
        return found

    def flush(self, now_ms: int | None = None) -> int:
        """Write the window's points; a store error is logged, and the window's rejects are counted again next time."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        reported = self._reported.copy()
        points = self.points(now_ms)
        try:
            written = self.store.write_health(points)
        except StoreError as exc:
            self._reported = reported
            log.warning("ingest health not written, trying again in %.0fs: %s", self.every_s, exc)
            return 0
        self.written += written
        return written

    def _point(self, metric: str, value: float, now_ms: int) -> HealthPoint:
        return HealthPoint("ingest", self.worker, metric, float(value), now_ms)

    def _loop(self) -> None:
        next_write = time.monotonic() + self.every_s
        while not self._stop.wait(self.sample_s):
            self.sample()
            if time.monotonic() >= next_write:
                self.flush()
                next_write = time.monotonic() + self.every_s

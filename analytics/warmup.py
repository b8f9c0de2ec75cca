"""Warm-up from history: after a restart the detectors relearn from the store instead of starting cold.

Everything goes through `TimeSeriesStore.latest` (which series exist) and `read_range` (their
recent readings), so it works the same on every store adapter.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator

from citysense.timeseries import TimeSeriesStore
from citysense.wire import Reading

__all__ = ["history", "series_readings"]

log = logging.getLogger(__name__)


def _series(store: TimeSeriesStore, device_id: str, quantity: str, start_ms: int, end_ms: int) -> list[Reading]:
    frame = store.read_range(device_id=device_id, quantity=quantity, start_ms=start_ms, end_ms=end_ms)
    # The index unit differs between adapters and pandas versions (ns, us, ms): ask for ms.
    times = frame.index.as_unit("ms").asi8.tolist() if len(frame) else []
    return [Reading(device_id, quantity, float(v), int(t)) for t, v in zip(times, frame["value"].tolist(), strict=True)]


def history(store: TimeSeriesStore, *, start_ms: int, end_ms: int) -> Iterator[Reading]:
    """Every stored reading in [start_ms, end_ms), all series merged in time order."""
    series = [
        _series(store, r.device_id, r.quantity, start_ms, end_ms) for r in store.latest() if r.time_ms >= start_ms
    ]
    log.info("warm-up: %d series, %d readings", len(series), sum(len(s) for s in series))
    return heapq.merge(*series, key=lambda r: (r.time_ms, r.device_id, r.quantity))


def series_readings(store: TimeSeriesStore, device_id: str, quantity: str, start_ms: int, end_ms: int) -> list[Reading]:
    """One series' stored readings in [start_ms, end_ms), in time order (a takeover's catch-up)."""
    return _series(store, device_id, quantity, start_ms, end_ms)

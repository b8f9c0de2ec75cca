"""What ingest received, stored, rejected and retried: the reliability chain's own account.

One object per worker, updated by its threads under a lock and read as a consistent snapshot by
the periodic log line and the Prometheus endpoint.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IngestCounters"]


@dataclass
class IngestCounters:
    messages: int = 0  # MQTT messages received
    readings: int = 0  # valid readings found in them
    stored: int = 0  # readings the store took as new
    duplicates: int = 0  # readings it already had (redeliveries)
    acknowledged: int = 0  # MQTT messages acknowledged after the store took them
    deadletters: int = 0  # messages (or parts of them) sent to the dead-letter topic
    store_retries: int = 0  # failed store writes that were tried again
    batches: int = 0
    # Seconds from the arrival of the oldest message of the last acknowledged batch to its ack.
    lag_s: float = 0.0
    rejected: Counter[str] = field(default_factory=Counter)
    # Reading time (ms) of the newest reading stored so far, for the lag health series (0: none yet).
    newest_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def reject(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.rejected[reason] += n

    def set_lag(self, seconds: float) -> None:
        with self._lock:
            self.lag_s = seconds

    def stored_up_to(self, time_ms: int) -> None:
        """Once per batch: the batch's last reading is stored (a batch is read in arrival order)."""
        with self._lock:
            if time_ms > self.newest_ms:
                self.newest_ms = time_ms

    @property
    def in_flight(self) -> int:
        """Messages received and not yet acknowledged."""
        with self._lock:
            return self.messages - self.acknowledged

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": self.messages,
                "readings": self.readings,
                "stored": self.stored,
                "duplicates": self.duplicates,
                "acknowledged": self.acknowledged,
                "deadletters": self.deadletters,
                "store_retries": self.store_retries,
                "batches": self.batches,
                "in_flight": self.messages - self.acknowledged,
                "lag_s": round(self.lag_s, 3),
                "rejected": dict(self.rejected),
                "newest_ms": self.newest_ms,
            }

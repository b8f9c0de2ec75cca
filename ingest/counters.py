"""What ingest received, stored, rejected and retried: the reliability chain's own account."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IngestCounters"]


@dataclass
class IngestCounters:
    messages: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    acknowledged: int = 0
    store_retries: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def reject(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.rejected[reason] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": self.messages,
                "readings": self.readings,
                "stored": self.stored,
                "duplicates": self.duplicates,
                "acknowledged": self.acknowledged,
                "store_retries": self.store_retries,
                "rejected": dict(self.rejected),
            }

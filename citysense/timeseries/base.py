"""The time-series store interface every adapter implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from citysense.wire import Reading

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TimeSeriesStore"]


class TimeSeriesStore(Protocol):
    """Readings keyed by (device, quantity, time): writing one twice stores it once."""

    def write(self, readings: Sequence[Reading]) -> int:
        """Store a batch durably before returning; the number of readings that were new."""
        ...

    def latest(self, *, quantity: str | None = None) -> list[Reading]:
        """The newest reading of every (device, quantity), optionally of one quantity."""
        ...

    def read_range(
        self,
        *,
        device_id: str,
        quantity: str,
        start_ms: int,
        end_ms: int,
        bucket_s: int | None = None,
    ) -> pd.DataFrame:
        """Readings in [start_ms, end_ms) as a DataFrame indexed by UTC time.

        Without a bucket: one row per reading, column `value`. With a bucket: one row per
        non-empty bucket, columns `mean`, `min`, `max`, `count`.
        """
        ...

    def count(self) -> int:
        """How many readings the store holds."""
        ...

    def close(self) -> None: ...

"""The time-series store interface every adapter implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from citysense.wire import Reading

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Bucket", "DeviceTags", "HealthPoint", "HealthScope", "TimeSeriesStore"]

# One bucket of one device's readings: (device_id, bucket start ms, mean, min, max, count).
Bucket = tuple[str, int, float, float, float, int]


@dataclass(frozen=True, slots=True)
class DeviceTags:
    """What the device registry knows about a device, stored beside its readings.

    Ingest enriches readings with it so that dashboards can filter by district or kind without a
    join against the relational database. It describes the device, not the reading: it is never
    part of a reading's identity (InfluxDB stores it as fields, not tags), so a reading written
    again after the registry changed (a move, a repair, a refresh) is still stored once.
    """

    district: str
    kind: str
    lat: float | None = None
    lon: float | None = None


# Whose health a point describes: a node (from its status message) or an ingest worker.
HealthScope = Literal["device", "ingest"]


@dataclass(frozen=True, slots=True)
class HealthPoint:
    """One figure of the platform's own health: a node's queue depth or battery, ingest's rejects or lag.

    Kept apart from readings (their own measurement or table): readings are what the city measures,
    and everything that reads every stored series (the public status, analytics' warm-up, `count`)
    must never see these. The series key is (scope, source, metric) only; `tags` describe the
    device, as for readings, and are stored beside the value, never as part of its identity.
    """

    scope: HealthScope
    source: str  # the device id, or the ingest worker's name
    metric: str  # e.g. queue_depth, battery_pct, rejected.bad_unit, lag_p50_s
    value: float
    time_ms: int
    tags: DeviceTags | None = None


class TimeSeriesStore(Protocol):
    """Readings keyed by (device, quantity, time): writing one twice stores it once."""

    def write(self, readings: Sequence[Reading], *, devices: Mapping[str, DeviceTags] | None = None) -> int:
        """Store a batch durably before returning; the number of readings that were new.

        `devices` carries registry metadata for (some of) the batch's devices. Adapters that
        cannot tell new readings from rewritten ones (InfluxDB) return how many they accepted.
        Raises `StoreError` whose `retryable` says whether the same write may succeed later.
        """
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
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Readings in [start_ms, end_ms) as a DataFrame indexed by UTC time.

        Without a bucket: one row per reading, column `value`. With a bucket: one row per
        non-empty bucket, columns `mean`, `min`, `max`, `count`. `limit` keeps only the first
        rows, and the store stops there: the API asks for one row more than it may answer to
        know that there is more, without reading the rest.
        """
        ...

    def read_buckets(
        self, *, device_ids: Sequence[str], quantity: str, start_ms: int, end_ms: int, bucket_s: int
    ) -> list[Bucket]:
        """Several devices' buckets (aligned to the epoch) in [start_ms, end_ms), by device then time.

        One query for a page of an export: the caller bounds the window and the devices so that
        the work is one page's, whatever the size of the city.
        """
        ...

    def count(self) -> int:
        """How many readings the store holds."""
        ...

    def expire(self, max_age_s: float, *, now_ms: int | None = None) -> int:
        """Apply the retention: readings older than `max_age_s` go, now or by the server's own policy.

        Called periodically by ingest; returns how many readings this call removed (0 where the
        server expires data itself, as InfluxDB does with its retention policy). Must not hold
        up concurrent writes for long.
        """
        ...

    def write_health(self, points: Sequence[HealthPoint]) -> int:
        """Store health points durably, apart from readings; how many were taken. A point written
        again (same scope, source, metric and time) is stored once."""
        ...

    def read_health(
        self, *, scope: HealthScope, metric: str, start_ms: int, end_ms: int, source: str | None = None
    ) -> list[HealthPoint]:
        """Health points of one metric in [start_ms, end_ms), of one source or all, by source then time."""
        ...

    def close(self) -> None: ...
